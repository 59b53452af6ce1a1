"""Choosing the implementations: `open_shared_state(config)` → in process (no `state.url`) or Redis."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from bot.cache import StickerStore
from bot.config import AppConfig
from bot.config_errors import ConfigError
from bot.limits import FairAdmission
from bot.state.admission import SharedAdmission
from bot.state.bus import LocalRoomBus, RedisRoomBus, RoomBus
from bot.state.keys import KeyValues, LocalKeyValues, RedisKeyValues
from bot.state.limits import LocalRateLimits, RateLimits, RedisRateLimits
from bot.state.redis_link import RedisLink, redact, redis_errors
from bot.state.sticker_blobs import DatabaseBlobs, RedisBlobs, TieredStickerStore
from bot.storage import Database

log = logging.getLogger("stickerbot.state")


class StateUnavailable(ConfigError):
    """`state.url` names Redis but redis-py is missing or the URL is unusable (one line, no traceback)."""


@dataclass
class SharedState:
    """What processes share. `link` is None in process."""

    config: AppConfig
    limits: RateLimits
    admission: FairAdmission | SharedAdmission
    keys: KeyValues
    bus: RoomBus
    link: RedisLink | None = None
    _closed: bool = field(default=False, repr=False)

    @property
    def shared(self) -> bool:
        return self.link is not None

    def sticker_store(self, database: Database) -> StickerStore:
        """The sticker file store: the local disk store, with a shared tier behind it when shared."""
        storage = self.config.storage
        max_bytes = storage.cache_max_mb * 1024 * 1024
        if self.link is None:
            return StickerStore(storage.cache_dir, max_bytes)
        if database.dialect == "postgresql":
            tier: DatabaseBlobs | RedisBlobs = DatabaseBlobs(database, max_bytes)
        else:
            tier = RedisBlobs(self.link, storage.keep_records_days * 86400 or 30 * 86400)
        return TieredStickerStore(storage.cache_dir, max_bytes, tier)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.admission.close()
        await self.bus.close()
        if self.link is not None:
            await self.link.close()


def local_state(config: AppConfig) -> SharedState:
    lim = config.limits
    return SharedState(
        config=config,
        limits=LocalRateLimits(lim),
        admission=FairAdmission(lim.max_in_flight, lim.max_waiting),
        keys=LocalKeyValues(),
        bus=LocalRoomBus(),
    )


async def open_shared_state(config: AppConfig) -> SharedState:
    """The state for `config.state.url`. Redis unreachable at start: one WARNING line, and every
    shared piece works per process until Redis answers (each retries on its own)."""
    url = config.state.url
    if not url:
        return local_state(config)
    try:
        link = RedisLink(url)
    except ImportError as exc:
        raise StateUnavailable("redis-py is not installed: pip install 'redis>=5'") from exc
    except ValueError as exc:
        raise StateUnavailable(f"state.url is not a Redis URL ({redact(url)}): {exc}") from exc
    try:
        await link.ping()
    except redis_errors() as exc:
        link.mark_down()
        log.warning(
            "state.url: Redis at %s is unreachable (%s); limits, admission, room fan-out and Telegram "
            "dedupe work per process until it answers",
            redact(url),
            str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__,
        )
    else:
        log.info("shared state in Redis at %s", redact(url))
    if config.storage.url.startswith("sqlite"):
        log.warning("state.url is set but storage.url is SQLite: records and settings are not shared")
    lim = config.limits
    st = config.state
    return SharedState(
        config=config,
        limits=RedisRateLimits(link, lim),
        admission=SharedAdmission(link, lim.max_in_flight, lim.max_waiting, lease_ttl_s=st.lease_ttl_s),
        keys=RedisKeyValues(link),
        bus=RedisRoomBus(link, presence_ttl_s=st.presence_ttl_s),
        link=link,
    )
