"""Rate limits charged once per request: the parts of one request (Telegram's first inline candidate,
then the other three) share its id and are charged as one."""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

from bot.generation import server_key
from bot.planning import fail
from bot.types import ErrorKind, StickerRequest

CHARGED_MAX = 4096  # request ids remembered as already charged


class RateLimits(Protocol):
    async def check(self, user_key: str, server_key: str, tokens: float = 1.0) -> float:
        """0 when both may go now (and both are charged `tokens`), else the seconds to wait (nothing
        charged)."""
        ...

    async def refund(self, user_key: str, server_key: str, tokens: float) -> None:
        """Give back tokens `check` took (a request charged but not served)."""
        ...


class RequestCharges:
    """Charges the user and the server for a request, once per request id."""

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self._charged: OrderedDict[str, tuple[str, str, float]] = OrderedDict()  # id → (user, server, weight)

    async def charge(self, request: StickerRequest, weight: float = 1.0) -> None:
        """Raises RATE_LIMITED ("Slow down …") when the user or the server is over its limit. `weight`
        is the request's cost in tokens (`limits.diffusion_animation_weight` for video diffusion)."""
        if request.request_id in self._charged:
            return
        server = server_key(request)
        # Where clients choose their "server" (web rooms), users are counted within their limits key.
        user = (
            f"{server}:{request.user_id}" if request.limits_key else f"{request.platform}:{request.user_id}"
        )
        wait = await self.limits.check(user, server, weight)
        if wait > 0:
            raise fail(ErrorKind.RATE_LIMITED, f"Slow down a little — try again in {max(1, round(wait))}s.")
        self._charged[request.request_id] = (user, server, weight)
        while len(self._charged) > CHARGED_MAX:
            self._charged.popitem(last=False)

    async def refund(self, request: StickerRequest, tokens: float) -> None:
        """Give back up to `tokens` of what this request was charged, once (a diffusion animation that
        was refused or failed keeps only a plain request's cost)."""
        charged = self._charged.get(request.request_id)
        if charged is None or tokens <= 0:
            return
        user, server, weight = charged
        back = min(tokens, weight)
        self._charged[request.request_id] = (user, server, weight - back)
        await self.limits.refund(user, server, back)
