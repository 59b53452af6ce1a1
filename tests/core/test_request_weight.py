"""A request's weight in rate-limit tokens: a diffusion animation costs
`limits.diffusion_animation_weight`."""

from __future__ import annotations

import pytest

from bot.charging import RequestCharges
from bot.config import LimitsConfig
from bot.state.limits import LocalRateLimits
from bot.types import ErrorKind, ServiceError, StickerRequest


def _request(n: int) -> StickerRequest:
    return StickerRequest("telegram", "7", "c", None, text="otter", request_id=f"r{n}")


async def test_a_diffusion_animation_spends_its_weight_of_the_burst() -> None:
    config = LimitsConfig(user_per_minute=1, user_burst=5, server_per_minute=1000, server_burst=1000)
    assert config.diffusion_animation_weight == 4
    charges = RequestCharges(LocalRateLimits(config))
    await charges.charge(_request(1), config.diffusion_animation_weight)  # 5 → 1 token left
    await charges.charge(_request(1), config.diffusion_animation_weight)  # the same request: not again
    await charges.charge(_request(2))  # one plain sticker still fits
    with pytest.raises(ServiceError) as refused:
        await charges.charge(_request(3))
    assert refused.value.error.kind == ErrorKind.RATE_LIMITED
    assert "Slow down" in str(refused.value)


async def test_without_the_weight_five_requests_fit() -> None:
    config = LimitsConfig(user_per_minute=1, user_burst=5, server_per_minute=1000, server_burst=1000)
    charges = RequestCharges(LocalRateLimits(config))
    for n in range(5):
        await charges.charge(_request(n))
    with pytest.raises(ServiceError):
        await charges.charge(_request(5))


async def test_a_weight_above_the_burst_is_capped_so_it_can_still_go() -> None:
    config = LimitsConfig(user_per_minute=1, user_burst=2, server_per_minute=1000, server_burst=1000)
    charges = RequestCharges(LocalRateLimits(config))
    await charges.charge(_request(1), 4)  # a full bucket pays for it
    with pytest.raises(ServiceError):
        await charges.charge(_request(2))


async def test_a_refund_gives_the_tokens_back_once() -> None:
    config = LimitsConfig(user_per_minute=1, user_burst=5, server_per_minute=1000, server_burst=1000)
    charges = RequestCharges(LocalRateLimits(config))
    await charges.charge(_request(1), 4)  # 1 token left
    await charges.refund(_request(1), 3)  # 4 tokens
    await charges.refund(_request(1), 3)  # the rest of its weight (1) at most: full again
    await charges.refund(_request(9), 3)  # never charged: nothing
    for n in range(2, 7):
        await charges.charge(_request(n))
    with pytest.raises(ServiceError):
        await charges.charge(_request(7))
