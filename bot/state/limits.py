"""Per-user and per-server token buckets: in process, or in Redis (one Lua script, so the check and the
take are one atomic step whichever process runs them, against Redis's clock).

`RateLimits.check(user_key, server_key, tokens)` returns 0 when admitted (`tokens` taken from both buckets),
else the seconds to wait; `refund` gives tokens of an admitted request back. The Redis version falls
back to the process's own buckets while Redis is unreachable (logged once), so stickers keep coming.
"""

from __future__ import annotations

from typing import Any, Protocol

from bot.config import LimitsConfig
from bot.limits import RateLimiter
from bot.state.redis_link import KEY_PREFIX, RedisLink, redis_errors

FEATURE = "rate limits"

# KEYS: user bucket, server bucket. ARGV: user rate/s, user capacity, server rate/s, server capacity,
# tokens (the request's weight; never more than a full bucket).
# A bucket is a hash {tokens, ts}; a missing bucket is full. Returns the wait as a string ("0" = taken).
TOKEN_BUCKETS_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function level(key, rate, cap)
  local v = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens, ts = tonumber(v[1]), tonumber(v[2])
  if tokens == nil or ts == nil then return cap end
  return math.min(cap, tokens + math.max(0, now - ts) * rate)
end
local ur, uc = tonumber(ARGV[1]), tonumber(ARGV[2])
local sr, sc = tonumber(ARGV[3]), tonumber(ARGV[4])
local u = level(KEYS[1], ur, uc)
local s = level(KEYS[2], sr, sc)
local n = tonumber(ARGV[5] or '1')
local un, sn = math.min(n, uc), math.min(n, sc)
local wait = 0
if u < un then wait = math.max(wait, (un - u) / ur) end
if s < sn then wait = math.max(wait, (sn - s) / sr) end
if wait > 0 then return string.format('%.3f', wait) end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', u - un), 'ts', string.format('%.6f', now))
redis.call('HSET', KEYS[2], 'tokens', string.format('%.6f', s - sn), 'ts', string.format('%.6f', now))
redis.call('EXPIRE', KEYS[1], math.ceil(uc / ur) + 1)
redis.call('EXPIRE', KEYS[2], math.ceil(sc / sr) + 1)
return '0'
"""


# KEYS: user bucket, server bucket. ARGV: user rate/s, user capacity, server rate/s, server capacity,
# tokens to give back (a request charged but then not served), capped at a full bucket.
REFUND_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local n = tonumber(ARGV[5])
local function give(key, rate, cap)
  local v = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens, ts = tonumber(v[1]), tonumber(v[2])
  if tokens == nil or ts == nil then return end
  local level = math.min(cap, tokens + math.max(0, now - ts) * rate)
  level = math.min(cap, level + math.min(n, cap))
  redis.call('HSET', key, 'tokens', string.format('%.6f', level), 'ts', string.format('%.6f', now))
end
give(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
give(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]))
return '0'
"""


class RateLimits(Protocol):
    async def check(self, user_key: str, server_key: str, tokens: float = 1.0) -> float: ...

    async def refund(self, user_key: str, server_key: str, tokens: float) -> None: ...


class LocalRateLimits:
    """The process's own buckets (`bot.limits.RateLimiter`)."""

    def __init__(self, config: LimitsConfig) -> None:
        self.limiter = RateLimiter(
            user_per_minute=config.user_per_minute,
            server_per_minute=config.server_per_minute,
            user_burst=config.user_burst,
            server_burst=config.server_burst,
        )

    async def check(self, user_key: str, server_key: str, tokens: float = 1.0) -> float:
        return self.limiter.check(user_key, server_key, tokens)

    async def refund(self, user_key: str, server_key: str, tokens: float) -> None:
        self.limiter.refund(user_key, server_key, tokens)


class RedisRateLimits:
    """The same buckets in Redis, shared by every process using the same `state.url`."""

    def __init__(self, link: RedisLink, config: LimitsConfig) -> None:
        self.link = link
        self.local = LocalRateLimits(config)
        self._args = (
            config.user_per_minute / 60.0,
            max(1.0, float(config.user_burst)),
            config.server_per_minute / 60.0,
            max(1.0, float(config.server_burst)),
        )
        self._script: Any = link.client.register_script(TOKEN_BUCKETS_LUA)
        self._refund: Any = link.client.register_script(REFUND_LUA)

    async def check(self, user_key: str, server_key: str, tokens: float = 1.0) -> float:
        if not self.link.available:
            self.link.skipped(FEATURE)
            return await self.local.check(user_key, server_key, tokens)
        try:
            wait = await self._script(
                keys=[f"{KEY_PREFIX}tb:u:{user_key}", f"{KEY_PREFIX}tb:s:{server_key}"],
                args=(*self._args, float(tokens)),
            )
        except redis_errors() as exc:
            self.link.failed(FEATURE, exc)
            return await self.local.check(user_key, server_key, tokens)
        self.link.recovered(FEATURE)
        return float(wait)

    async def refund(self, user_key: str, server_key: str, tokens: float) -> None:
        """Give the tokens back where they were taken (Redis, or the local buckets while it is down)."""
        if not self.link.available:
            await self.local.refund(user_key, server_key, tokens)
            return
        try:
            await self._refund(
                keys=[f"{KEY_PREFIX}tb:u:{user_key}", f"{KEY_PREFIX}tb:s:{server_key}"],
                args=(*self._args, float(tokens)),
            )
        except redis_errors() as exc:
            self.link.failed(FEATURE, exc)
