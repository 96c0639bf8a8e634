"""Opening one WebSocket connection to LDP: proxy from the environment, verified TLS, the
websockets (asyncio) client with its own keepalive off (stream.py does it, see contract.py)."""
from __future__ import annotations

import logging
import urllib.parse
from typing import Optional

from .. import __version__
from .address import LdpUrl, is_loopback
from .redact import WS_LOGGER_NAME
from .tls import make_ssl_context


def proxy_for(target: LdpUrl) -> Optional[str]:
    """The proxy websockets takes from the environment for this address (HTTPS_PROXY for
    wss://, NO_PROXY honoured...), or None; loopback addresses never go through a proxy."""
    if is_loopback(target.host):
        return None
    from websockets.proxy import get_proxy
    from websockets.uri import parse_uri
    return get_proxy(parse_uri(target.url))


def proxy_display(proxy: str) -> str:
    """A proxy URL without its credentials."""
    p = urllib.parse.urlsplit(proxy if "://" in proxy else "http://" + proxy)
    try:
        port = p.port
    except ValueError:
        port = None
    return f"{p.scheme}://{p.hostname or '?'}" + (f":{port}" if port else "")


def max_frame_size(config) -> int:
    # The event is escaped twice (GELF string inside the frame's message string).
    return 8 * config.max_event_size + 65536


async def open_connection(target: LdpUrl, config, url: Optional[str] = None, ssl_ctx=None,
                          logger=None):
    """A websockets (asyncio) ClientConnection to `url` (default: the live tail of `target`),
    through the proxy the environment names, TLS verified, no permessage-deflate, keepalive
    left to the caller. Cancelling the calling task aborts any phase."""
    from websockets.asyncio.client import connect

    if target.secure and ssl_ctx is None:
        ssl_ctx = make_ssl_context(config.ldp_ca_file)
    kwargs = {} if proxy_for(target) else {"proxy": None}
    return await connect(
        url or target.url, ssl=ssl_ctx if target.secure else None, compression=None, **kwargs,
        open_timeout=config.ldp_connect_timeout, ping_interval=None, ping_timeout=None,
        close_timeout=1, max_size=max_frame_size(config), max_queue=16,
        user_agent_header=f"k8saudit-ovh/{__version__}",
        logger=logger or logging.getLogger(WS_LOGGER_NAME))
