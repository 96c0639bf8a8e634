#!/usr/bin/env python3
"""The baseline of the LDP ingest benchmark: a plain `websockets` asyncio client that drains
COUNT frames from the benchmark server and does nothing with them. It is what any Python LDP
client costs at least (the same library, the same server, the same machine load), so the
plugin's throughput is judged as a ratio to it, not as an absolute number.

    python benchmarks/ldp_baseline_client.py URL COUNT [CA_FILE]
"""
import asyncio
import ssl
import sys


async def drain(url: str, count: int, ca: str) -> int:
    from websockets.asyncio.client import connect
    ctx = ssl.create_default_context(cafile=ca) if url.startswith("wss://") else None
    n = 0
    ws = await connect(url, ssl=ctx, compression=None, max_size=None, ping_interval=None,
                       max_queue=16, proxy=None)
    try:
        while n < count:
            await ws.recv(decode=False)
            n += 1
    finally:
        ws.transport.abort()        # like the plugin's close: no closing handshake to wait for
    return n


def main(argv) -> int:
    url, count = argv[0], int(argv[1])
    ca = argv[2] if len(argv) > 2 else None
    n = asyncio.run(drain(url, count, ca))
    print(n)
    return 0 if n == count else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
