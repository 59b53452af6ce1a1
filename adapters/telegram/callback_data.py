"""Button payloads (≤ 64 bytes): an action letter and the core's record id, e.g. `r:ab12cd34`."""

from __future__ import annotations

from dataclasses import dataclass

REROLL, MORE, ADD, ANIMATE = "r", "m", "p", "a"
MAX_BYTES = 64


@dataclass(frozen=True, slots=True)
class ButtonPress:
    action: str
    record_id: str
    index: int = 0


def reroll(record_id: str) -> str:
    return _checked(f"{REROLL}:{record_id}")


def more(record_id: str) -> str:
    return _checked(f"{MORE}:{record_id}")


def add_to_pack(record_id: str, index: int) -> str:
    return _checked(f"{ADD}:{record_id}:{index}")


def animate(record_id: str, index: int) -> str:
    return _checked(f"{ANIMATE}:{record_id}:{index}")


def parse(data: str | None) -> ButtonPress | None:
    """The button that was pressed, or None for anything this bot did not make."""
    if not data:
        return None
    parts = data.split(":")
    if parts[0] in (REROLL, MORE) and len(parts) == 2 and parts[1]:
        return ButtonPress(parts[0], parts[1])
    if parts[0] in (ADD, ANIMATE) and len(parts) == 3 and parts[1] and parts[2].isdigit():
        return ButtonPress(parts[0], parts[1], int(parts[2]))
    return None


def _checked(data: str) -> str:
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(f"callback data over {MAX_BYTES} bytes: {data!r}")
    return data
