"""Bot round trip through the Telegram adapter against the fake Bot API (command in → sticker out)."""

from __future__ import annotations

import importlib.util


class RoundTripUnavailable(Exception):
    """The adapter or the fake Bot API this measurement needs is not installed."""


def measure_telegram_roundtrip() -> list[float]:
    for module in ("adapters.telegram", "tests.fakes.telegram_api"):
        if importlib.util.find_spec(module) is None:
            raise RoundTripUnavailable(f"{module} is not available")
    raise RoundTripUnavailable("the Telegram adapter round trip is not wired yet")
