"""Where the discord.py client connects: Discord itself, or an override (an HTTP proxy, a test server).

discord.py reads its REST base from the class attribute `discord.http.Route.BASE` (used by the
client's HTTP calls *and* by interaction webhooks) and its gateway from
`discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`. Neither can be set per client instance, so an
override is installed for the lifetime of the one running adapter and restored when it stops.
A sharded client that asks Discord for the gateway (`GET /gateway/bot`) still connects to the
configured gateway: see `client.ShardedStickerClient.launch_shard`.
"""

from __future__ import annotations

import discord.gateway
import discord.http
import yarl

_active_owner: object | None = None
_saved: tuple[str, yarl.URL] | None = None


class EndpointConflict(RuntimeError):
    """Two Discord adapters in one process asked for different endpoints at the same time."""


def install(owner: object, api_base_url: str | None, gateway_url: str | None) -> None:
    """Point discord.py at the given endpoints (None keeps Discord's own) until `release(owner)`."""
    global _active_owner, _saved
    if _active_owner is not None and _active_owner is not owner:
        raise EndpointConflict("another Discord adapter is already running in this process")
    if _saved is None:
        _saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    _active_owner = owner
    if api_base_url:
        discord.http.Route.BASE = api_base_url.rstrip("/")
    if gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


def release(owner: object) -> None:
    """Restore discord.py's endpoints if `owner` installed them."""
    global _active_owner, _saved
    if _active_owner is not owner or _saved is None:
        return
    discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = _saved
    _active_owner = None
    _saved = None


def configured_gateway() -> yarl.URL:
    return discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
