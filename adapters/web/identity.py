"""Who is on the other end: the client's network address and the Host it asked for.

Limits in the web room count per address because everything else a browser sends (session,
name, room) is the client's own choice. Behind a reverse proxy the socket's peer is the proxy,
so the address comes from `web.trusted_proxy_header` (e.g. X-Forwarded-For), believed only when
the peer is one of `web.trusted_proxies`: the right-most hop that is not a trusted proxy is the
client (hops further left were written by the client and prove nothing).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from aiohttp import web

from bot.config import WebConfig

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


class Identity:
    """Resolves a request's client address and checks its Host header against `web.allowed_hosts`."""

    def __init__(self, config: WebConfig) -> None:
        self.header = config.trusted_proxy_header
        self.proxies: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(p, strict=False) for p in config.trusted_proxies
        )
        self.allowed_hosts = allowed_hosts(config.host, config.allowed_hosts)

    def address(self, request: web.Request) -> str:
        peer = _peer(request)
        if self.header is None or not self._trusted(peer):
            return peer
        hops = [h.strip() for h in ",".join(request.headers.getall(self.header, [])).split(",")]
        for hop in reversed([h for h in hops if h]):
            ip = _ip(hop)
            if ip is None:
                break  # garbage from the client side: stop believing the header here
            if not self._trusted(hop):
                return hop
        return peer

    def _trusted(self, address: str) -> bool:
        ip = _ip(address)
        return ip is not None and any(ip in net for net in self.proxies)

    def host_allowed(self, request: web.Request) -> bool:
        """Refuse Host headers other than ours: a DNS-rebinding page sends its own name as Host and Origin."""
        return host_name(request.headers.get("Host", "")) in self.allowed_hosts


def allowed_hosts(bind: str, configured: Iterable[str]) -> frozenset[str]:
    names = [h.strip().lower() for h in configured if h.strip()]
    if not names:
        names = [bind.lower(), *LOCAL_HOSTS]
    return frozenset(host_name(n) for n in names)


def host_name(host: str) -> str:
    """`Host` without its port: `[::1]:8080` → `::1`, `Example.org:80` → `example.org`."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def _peer(request: web.Request) -> str:
    transport = request.transport
    peer = transport.get_extra_info("peername") if transport is not None else None
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return request.remote or "unknown"


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
