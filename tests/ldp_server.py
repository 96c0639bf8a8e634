"""A loopback server that behaves like the OVHcloud LDP WebSocket live tail, for tests.

Runs an asyncio ``websockets`` server in a thread (``LdpServer``) or as a process
(``python tests/ldp_server.py ...``, for benchmarks). Frames are what LDP sends:
``{"message": "<GELF JSON>"}`` with the audit event text as GELF ``short_message``.

Scriptable from the test thread:
  - ``publish(events, ldp_ts=...)``: record events in the history and send them, in order, to
    every live client that is not silenced (LDP's live broadcast). Each frame's GELF
    ``timestamp`` is its place in LDP's clock: the publish time, or ``ldp_ts`` (one number, or
    one per event: e.g. the event's own time, as a log shipper that stamps GELF with it does);
  - ``record(events, ldp_ts)``: history only (what LDP received while nobody was listening);
  - ``send_raw(frames)``: send frames as they are (malformed ones), without recording them;
  - ``drop()``: abort the TCP connection of every client (no close frame);
  - ``silence()``: stop sending to the current clients and stop reading from them, so their
    pings are never answered;
  - ``reject(status, count)``: answer the next `count` handshakes with that HTTP status;
  - ``reject_replays(status, count, begin=None)``: the same for the next `count` replay
    requests only (with ``begin``: only those that ask for that begin);
  - a request with ``begin``/``end`` gets the recorded frames whose LDP timestamp is in that
    window, in the order LDP received them (``replay_sorted=True``: by timestamp), then a close
    (``replay_close=False``: then nothing more). ``end`` counts its whole second
    (``replay_end="second"``, ts < end + 1) or not (``"exclusive"``, ts < end);
  - a wrong ``tk`` gets HTTP 401.
Nothing here listens on anything but the loopback interface.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import threading
import time
import urllib.parse
from typing import List, Optional

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed


def gelf_frame(event, key: str = "short_message", extra: Optional[dict] = None,
               ldp_ts: Optional[float] = None) -> str:
    """An LDP tail frame carrying `event` (text) as GELF `key`, stamped `ldp_ts` (default now)."""
    text = event.decode() if isinstance(event, bytes) else event
    gelf = {"version": "1.1", "host": "mks-audit", key: text,
            "timestamp": round(time.time() if ldp_ts is None else ldp_ts, 6), "level": 6}
    if extra:
        gelf.update(extra)
    return json.dumps({"message": json.dumps(gelf)})


_TEMPLATES = [
    {"verb": "create", "objectRef": {"resource": "pods", "namespace": "default", "name": "web-%d",
                                     "apiVersion": "v1"},
     "requestURI": "/api/v1/namespaces/default/pods", "responseStatus": {"metadata": {}, "code": 201},
     "requestObject": {"kind": "Pod", "apiVersion": "v1",
                       "metadata": {"name": "web-%d", "namespace": "default"},
                       "spec": {"hostNetwork": False, "containers": [
                           {"name": "web", "image": "docker.io/library/nginx:1.27",
                            "securityContext": {"privileged": False}}],
                           "volumes": [{"name": "data", "hostPath": {"path": "/var/lib/data"}}]}}},
    {"verb": "get", "objectRef": {"resource": "configmaps", "namespace": "kube-system",
                                  "name": "coredns", "apiVersion": "v1"},
     "requestURI": "/api/v1/namespaces/kube-system/configmaps/coredns",
     "responseStatus": {"metadata": {}, "code": 200}},
    {"verb": "create", "objectRef": {"resource": "pods", "namespace": "default", "name": "web-%d",
                                     "subresource": "exec", "apiVersion": "v1"},
     "requestURI": "/api/v1/namespaces/default/pods/web-%d/exec?command=sh&container=web&stdin=true",
     "responseStatus": {"metadata": {}, "code": 101}, "stage": "ResponseStarted"},
    {"verb": "create", "objectRef": {"resource": "clusterrolebindings", "name": "crb-%d",
                                     "apiGroup": "rbac.authorization.k8s.io", "apiVersion": "v1"},
     "requestURI": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
     "responseStatus": {"metadata": {}, "code": 201},
     "requestObject": {"kind": "ClusterRoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1",
                       "metadata": {"name": "crb-%d"},
                       "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                   "name": "cluster-admin"},
                       "subjects": [{"kind": "User", "name": "alice",
                                     "apiGroup": "rbac.authorization.k8s.io"}]}},
]


def _fill(obj, i):
    if isinstance(obj, dict):
        return {k: _fill(v, i) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_fill(v, i) for v in obj]
    if isinstance(obj, str) and "%d" in obj:
        return obj % ((i,) * obj.count("%d"))
    return obj


def rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % int(round(t % 1 * 1e6) % 1000000)


def synthetic_events(n: int, start: int = 0, prefix: str = "e", at: Optional[float] = None,
                     step: float = 1e-6) -> List[str]:
    """`n` MKS-like audit events (compact JSON text) with unique auditIDs and stageTimestamps
    from `at` (default now), `step` s apart: pods, configmaps, exec, RBAC."""
    base = time.time() if at is None else at
    out = []
    for i in range(start, start + n):
        t = base + (i - start) * step
        stamp = rfc3339(t)
        tpl = _TEMPLATES[i % len(_TEMPLATES)]
        ev = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
              "auditID": f"{prefix}-{i:08d}-4f6b-8a8e-0c1d2e3f4a5b",
              "stage": tpl.get("stage", "ResponseComplete")}
        ev.update({k: _fill(v, i) for k, v in tpl.items() if k != "stage"})
        ev.update({"user": {"username": "kubernetes-admin", "groups": ["system:masters",
                                                                      "system:authenticated"]},
                   "sourceIPs": ["203.0.113.7"], "userAgent": "kubectl/v1.31.0",
                   "requestReceivedTimestamp": stamp, "stageTimestamp": stamp,
                   "annotations": {"authorization.k8s.io/decision": "allow",
                                   "authorization.k8s.io/reason": ""}})
        out.append(json.dumps(ev, separators=(",", ":")))
    return out


class LdpServer:
    def __init__(self, token: str = "s3cr3t-T0ken-4242", ssl_context: Optional[ssl.SSLContext] = None,
                 host: str = "127.0.0.1", replay_close: bool = True, replay_sorted: bool = False,
                 replay_end: str = "second"):
        self.token = token
        self.ssl_context = ssl_context
        self.host = host
        self.replay_close = replay_close
        self.replay_sorted = replay_sorted
        assert replay_end in ("second", "exclusive")
        self.replay_end = replay_end
        self.port = 0
        self.history: List[tuple] = []      # (LDP timestamp, frame), in the order received
        self.requests: List[str] = []       # request paths, in order
        self.handshakes = 0                 # accepted live connections
        self.replays = 0                    # accepted replay connections
        self.rejected: List[int] = []       # statuses answered instead of 101
        self._reject: List[int] = []
        self._reject_replays: List[int] = []
        self._live: set = set()
        self._silenced: set = set()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._server = None
        self._thread: Optional[threading.Thread] = None
        self._ready = threading.Event()
        self._lock = threading.Lock()

    # -- lifecycle
    def start(self) -> "LdpServer":
        self._thread = threading.Thread(target=self._run, name="ldp-test-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("LDP test server did not start")
        return self

    def stop(self):
        if self._loop is None:
            return
        async def _close():
            self._server.close()
            for ws in list(self._live):
                ws.transport.abort()
            await asyncio.wait_for(self._server.wait_closed(), 5)
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=5)
        try:
            asyncio.run_coroutine_threadsafe(_close(), self._loop).result(15)
        except Exception:
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _run(self):
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)

        async def main():
            self._server = await serve(self._handler, self.host, 0, ssl=self.ssl_context,
                                       process_request=self._process_request,
                                       compression=None, max_size=None, ping_interval=None)
            self.port = self._server.sockets[0].getsockname()[1]
            self._ready.set()

        self._loop.run_until_complete(main())
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    def _call(self, coro, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # -- addresses
    def url(self, token: Optional[str] = None, scheme: Optional[str] = None, host: Optional[str] = None,
            path: str = "/tail/", fragment: str = "") -> str:
        scheme = scheme or ("wss" if self.ssl_context else "ws")
        tk = self.token if token is None else token
        url = f"{scheme}://{host or self.host}:{self.port}{path}?tk={tk}"
        return url + (f"#{fragment}" if fragment else "")

    # -- server side
    def _process_request(self, connection, request):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.path).query)
        with self._lock:
            self.requests.append(request.path)
            is_replay = "begin=" in request.path
            replay_rule = None
            if is_replay:
                replay_rule = next((r for r in self._reject_replays
                                    if r[1] is None or str(r[1]) == query["begin"][0]), None)
            if self._reject or replay_rule is not None:
                if replay_rule is not None:
                    self._reject_replays.remove(replay_rule)
                    status = replay_rule[0]
                else:
                    status = self._reject.pop(0)
                self.rejected.append(status)
                return connection.respond(status, f"HTTP {status}\n")
        if query.get("tk", [None])[0] != self.token:
            with self._lock:
                self.rejected.append(401)
            return connection.respond(401, "Unauthorized\n")
        return None

    async def _handler(self, ws):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(ws.request.path).query)
        if "begin" in query and "end" in query:
            self.replays += 1
            begin, end = int(query["begin"][0]), int(query["end"][0])
            frames = self.window(begin, end)
            try:
                for f in frames:
                    await ws.send(f)
                if self.replay_close:
                    await ws.close()
                else:
                    await ws.wait_closed()
            except ConnectionClosed:
                pass
            return
        self.handshakes += 1
        self._live.add(ws)
        try:
            await ws.wait_closed()
        finally:
            self._live.discard(ws)
            self._silenced.discard(ws)

    async def _broadcast(self, frames: List[str]):
        targets = [ws for ws in list(self._live) if ws not in self._silenced]
        for ws in targets:
            try:
                for f in frames:
                    await ws.send(f)
            except ConnectionClosed:
                pass

    def window(self, begin: int, end: int) -> List[str]:
        """The frames a request with begin/end gets, in the order they are sent."""
        stop = end + 1 if self.replay_end == "second" else end
        with self._lock:
            picked = [(t, f) for t, f in self.history if begin <= t < stop]
        if self.replay_sorted:
            picked.sort(key=lambda tf: tf[0])
        return [f for _, f in picked]

    # -- scripting (from the test thread)
    def record(self, events, ldp_ts, key: str = "short_message") -> List[str]:
        """Add frames to the history without sending them live; `ldp_ts`: one per event."""
        frames = [gelf_frame(e, key, ldp_ts=t) for e, t in zip(events, ldp_ts)]
        with self._lock:
            self.history.extend(zip(ldp_ts, frames))
        return frames

    def publish(self, events, key: str = "short_message", ldp_ts=None) -> List[str]:
        now = time.time()
        if ldp_ts is None or isinstance(ldp_ts, (int, float)):
            ldp_ts = [now if ldp_ts is None else ldp_ts] * len(events)
        frames = [gelf_frame(e, key, ldp_ts=t) for e, t in zip(events, ldp_ts)]
        with self._lock:
            self.history.extend(zip(ldp_ts, frames))
        self._call(self._broadcast(frames))
        return frames

    def send_raw(self, frames):
        self._call(self._broadcast(list(frames)))

    def drop(self):
        async def _drop():
            for ws in list(self._live):
                ws.transport.abort()
        self._call(_drop())

    def silence(self):
        async def _silence():
            for ws in list(self._live):
                self._silenced.add(ws)
                ws.transport.pause_reading()
        self._call(_silence())

    def reject(self, status: int, count: int = 1):
        with self._lock:
            self._reject.extend([status] * count)

    def reject_replays(self, status: int, count: int = 1, begin: Optional[int] = None):
        with self._lock:
            self._reject_replays.extend([(status, begin)] * count)

    @property
    def live_clients(self) -> int:
        return len([ws for ws in self._live if ws not in self._silenced])

    def wait_clients(self, n: int = 1, timeout: float = 10, handshakes: Optional[int] = None) -> bool:
        """Wait until `n` live (not silenced) clients are connected (and, if given, until
        `handshakes` live handshakes have been accepted in total)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.live_clients >= n and (handshakes is None or self.handshakes >= handshakes):
                return True
            time.sleep(0.01)
        return False


class ConnectProxy:
    """A minimal HTTP CONNECT proxy on loopback (a thread per tunnel), for the HTTPS_PROXY test.
    `connects` lists the CONNECT targets it was asked for."""

    def __init__(self):
        import socket
        self._socket = socket
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connects: List[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.sock.close()

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(conn,), daemon=True).start()

    def _tunnel(self, conn):
        socket = self._socket
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                conn.close()
                return
            head += chunk
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        method, target = (line.split(" ") + ["", ""])[:2]
        self.connects.append(target)
        host, _, port = target.rpartition(":")
        if method != "CONNECT" or host.strip("[]") not in ("localhost", "127.0.0.1", "::1"):
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\n\r\n")   # loopback only
            conn.close()
            return
        try:
            up = socket.create_connection(("127.0.0.1", int(port)), timeout=5)
        except OSError:
            conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
            conn.close()
            return
        up.settimeout(None)
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

        def pipe(a, b):
            try:
                while True:
                    data = a.recv(65536)
                    if not data:
                        break
                    b.sendall(data)
            except OSError:
                pass
            finally:
                for s in (a, b):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pipe, args=(up, conn), daemon=True).start()
        pipe(conn, up)


def make_tls(tmpdir, hostnames=("localhost",), ips=("127.0.0.1",)):
    """A CA and a server certificate signed by it (cryptography). Returns
    (ca_pem_path, server_ssl_context)."""
    import datetime
    import ipaddress
    from pathlib import Path

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    tmp = Path(tmpdir)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "k8saudit-ovh test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, key_cert_sign=True, crl_sign=True,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName(h) for h in hostnames] + [x509.IPAddress(ipaddress.ip_address(i))
                                                   for i in ips]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (tmp / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp / "server.pem").write_bytes(cert.public_bytes(pem))
    (tmp / "server.key").write_bytes(key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp / "server.pem", tmp / "server.key")
    return str(tmp / "ca.pem"), ctx


# ---- process mode (benchmarks): every live client gets COUNT frames as fast as possible

def encode_text_frame(payload: bytes) -> bytes:
    """One unmasked, final text frame (RFC 6455 5.2), as a server sends it."""
    n = len(payload)
    if n < 126:
        head = bytes([0x81, n])
    elif n < 65536:
        head = bytes([0x81, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x81, 127]) + n.to_bytes(8, "big")
    return head + payload


def _main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", default="", help="JSON Lines file of audit events "
                    "(default: synthetic MKS-like events)")
    ap.add_argument("--count", type=int, required=True, help="frames sent to each client")
    ap.add_argument("--token", default="bench-token")
    ap.add_argument("--certfile", help="serve wss:// with this certificate (PEM)")
    ap.add_argument("--keyfile", help="... and this key (PEM)")
    args = ap.parse_args(argv)
    if args.events:
        lines = [ln.strip() for ln in open(args.events, encoding="utf-8") if ln.strip()]
    else:
        lines = synthetic_events(min(args.count, 1000))
    frames = []
    for i in range(args.count):
        ev = lines[i % len(lines)]
        if not args.events and i >= len(lines):
            # a unique auditID per event: the plugin drops repeated (auditID, stage) pairs
            ev = ev.replace(f'"e-{i % len(lines):08d}-', f'"e-{i:08d}-', 1)
        frames.append(gelf_frame(ev).encode())

    # The frames are encoded once, then written straight to the transport in large chunks,
    # so that the server costs little next to the client being measured.
    blob = b"".join(encode_text_frame(f) for f in frames)
    del frames

    async def handler(ws):
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(ws.request.path).query)
        if q.get("tk", [None])[0] != args.token:
            await ws.close(1008, "bad token")
            return
        try:
            view = memoryview(blob)
            for i in range(0, len(view), 1 << 20):
                if ws.transport.is_closing():
                    return
                ws.transport.write(view[i:i + (1 << 20)])
                while ws.transport.get_write_buffer_size() > (8 << 20):
                    await asyncio.sleep(0.001)
            await ws.wait_closed()
        except ConnectionClosed:
            pass

    tls = None
    if args.certfile:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.certfile, args.keyfile)

    async def main():
        async with serve(handler, "127.0.0.1", 0, compression=None, max_size=None,
                         ping_interval=None, ssl=tls) as server:
            port = server.sockets[0].getsockname()[1]
            print(f"PORT {port}", flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

    asyncio.run(main())
    return 0


if __name__ == "__main__":
    sys.exit(_main())
