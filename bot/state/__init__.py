"""State that several bot processes share: rate limits, engine admission, short-lived keys, room fan-out.

Every piece has a small interface with an in-process implementation (the default: one process,
nothing else to run) and a Redis one (`state.url: redis://host:6379/0`). `open_shared_state(config)`
picks one; the service and the adapters only see the interfaces.
"""

from bot.state.shared import SharedState, StateUnavailable, open_shared_state

__all__ = ["SharedState", "StateUnavailable", "open_shared_state"]
