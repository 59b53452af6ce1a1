"""Where the discord.py client connects: Discord itself, or an override (an HTTP proxy, a test server).

discord.py reads its REST base from the class attribute `discord.http.Route.BASE` (used by the
client's HTTP calls *and* by interaction webhooks) and its gateway from
`discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`. Neither can be set per client instance, so the
override is installed while an adapter runs and the library's values are restored when the last
one stops. Adapters that want different endpoints at the same time cannot share a process.
A sharded client that asks Discord for the gateway (`GET /gateway/bot`) still connects to the
configured gateway: see `client.ShardedStickerClient.launch_shard`.
"""

from __future__ import annotations

import discord.gateway
import discord.http
import yarl

Endpoints = tuple[str | None, str | None]

_owners: set[int] = set()
_installed: Endpoints | None = None
_library_defaults: tuple[str, yarl.URL] | None = None


class EndpointConflict(RuntimeError):
    """Two Discord adapters in one process asked for different endpoints at the same time."""


def install(owner: object, api_base_url: str | None, gateway_url: str | None) -> None:
    """Point discord.py at the given endpoints (None keeps Discord's own) until `release(owner)`."""
    global _installed, _library_defaults
    wanted: Endpoints = (api_base_url.rstrip("/") if api_base_url else None, gateway_url or None)
    if _owners and wanted != _installed:
        raise EndpointConflict("another Discord adapter in this process uses different endpoints")
    if not _owners:
        _library_defaults = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
        _installed = wanted
        if wanted[0]:
            discord.http.Route.BASE = wanted[0]
        if wanted[1]:
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(wanted[1])
    _owners.add(id(owner))


def release(owner: object) -> None:
    """Forget `owner`; the last one out restores discord.py's own endpoints."""
    global _installed, _library_defaults
    if id(owner) not in _owners:
        return
    _owners.discard(id(owner))
    if not _owners and _library_defaults is not None:
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = _library_defaults
        _installed = None
        _library_defaults = None
