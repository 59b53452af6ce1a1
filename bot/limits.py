"""Rate limits and fair admission to the engine.

`RateLimiter` keeps a token bucket per user and per server: a request takes its weight in tokens
(one, more for a diffusion animation) from both, or from neither. `FairAdmission` lets at most
`max_in_flight` requests reach the engine;
the rest wait in one line per server and are admitted round-robin across servers, so a burst
from one server cannot starve the others. Every waiter learns its place in that interleaved
line whenever it changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """Token buckets keyed by name: `capacity` tokens, refilled at `per_minute` per minute."""

    def __init__(
        self, per_minute: float, capacity: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, capacity)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def _refill(self, key: str, now: float) -> _Bucket:
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = _Bucket(self.capacity, now)
        else:
            b.tokens = min(self.capacity, b.tokens + (now - b.updated) * self.rate)
            b.updated = now
        return b

    def wait_time(self, key: str, tokens: float = 1.0) -> float:
        """Seconds until `tokens` are available (0 when they are now; never more than a full bucket)."""
        need = min(tokens, self.capacity)
        b = self._refill(key, self._clock())
        if b.tokens >= need:
            return 0.0
        return (need - b.tokens) / self.rate if self.rate > 0 else float("inf")

    def take(self, key: str, tokens: float = 1.0) -> None:
        self._refill(key, self._clock()).tokens -= min(tokens, self.capacity)
        if len(self._buckets) > 10_000:
            self._prune()

    def give_back(self, key: str, tokens: float) -> None:
        """Return tokens taken for a request that was then not served (never above a full bucket)."""
        if key in self._buckets:  # a pruned bucket is already full
            b = self._refill(key, self._clock())
            b.tokens = min(self.capacity, b.tokens + min(tokens, self.capacity))

    def _prune(self) -> None:
        now = self._clock()
        full = [
            k for k, b in self._buckets.items() if b.tokens + (now - b.updated) * self.rate >= self.capacity
        ]
        for k in full:
            del self._buckets[k]


class RateLimiter:
    """Per-user and per-server limits; `check` returns 0 when admitted, else seconds to wait."""

    def __init__(
        self,
        *,
        user_per_minute: float,
        server_per_minute: float,
        user_burst: float,
        server_burst: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.users = TokenBuckets(user_per_minute, user_burst, clock)
        self.servers = TokenBuckets(server_per_minute, server_burst, clock)

    def check(self, user_key: str, server_key: str, tokens: float = 1.0) -> float:
        """`tokens` is the request's weight (a diffusion animation costs more than a sticker)."""
        wait = max(self.users.wait_time(user_key, tokens), self.servers.wait_time(server_key, tokens))
        if wait > 0:
            return wait
        self.users.take(user_key, tokens)
        self.servers.take(server_key, tokens)
        return 0.0

    def refund(self, user_key: str, server_key: str, tokens: float) -> None:
        """Give back `tokens` of an admitted request to both buckets."""
        self.users.give_back(user_key, tokens)
        self.servers.give_back(server_key, tokens)


class AdmissionClosed(Exception):
    """Raised to waiters when the service shuts down before their turn."""


class QueueFull(Exception):
    """Raised when too many requests are already waiting."""


PositionSink = Callable[[int], Awaitable[None]]


@dataclass(eq=False)
class _Waiter:
    server: str
    updates: asyncio.Queue[int] = field(
        default_factory=asyncio.Queue
    )  # N ≥ 1: place in line; 0: go; -1: closed
    granted: bool = False
    position: int = 0


class FairAdmission:
    """At most `max_in_flight` holders; waiters admitted round-robin across servers."""

    def __init__(self, max_in_flight: int, max_waiting: int = 1000) -> None:
        self.max_in_flight = max(1, max_in_flight)
        self.max_waiting = max_waiting
        self.in_flight = 0
        self._lines: OrderedDict[str, deque[_Waiter]] = OrderedDict()  # rotation order = dict order
        self._waiting = 0
        self._closed = False

    @property
    def waiting(self) -> int:
        return self._waiting

    def close(self) -> None:
        """Refuse new waiters and wake the current ones with AdmissionClosed."""
        self._closed = True
        for line in self._lines.values():
            for w in line:
                w.updates.put_nowait(-1)
        self._lines.clear()
        self._waiting = 0

    def order(self) -> list[_Waiter]:
        """The line as it will be served: one from each server in turn."""
        lines = [list(line) for line in self._lines.values()]
        out: list[_Waiter] = []
        depth = 0
        while True:
            row = [line[depth] for line in lines if depth < len(line)]
            if not row:
                return out
            out.extend(row)
            depth += 1

    def _publish_positions(self) -> None:
        for i, w in enumerate(self.order(), start=1):
            if w.position != i:
                w.position = i
                w.updates.put_nowait(i)

    def _grant_next(self) -> None:
        while self.in_flight < self.max_in_flight and self._lines:
            server, line = next(iter(self._lines.items()))
            waiter = line.popleft()
            self._waiting -= 1
            # rotate: this server goes to the back of the round
            del self._lines[server]
            if line:
                self._lines[server] = line
            waiter.granted = True
            self.in_flight += 1
            waiter.updates.put_nowait(0)
        self._publish_positions()

    def _release(self) -> None:
        self.in_flight -= 1
        self._grant_next()

    def _remove(self, waiter: _Waiter) -> None:
        line = self._lines.get(waiter.server)
        if line is not None and waiter in line:
            line.remove(waiter)
            self._waiting -= 1
            if not line:
                del self._lines[waiter.server]
            self._publish_positions()

    @contextlib.asynccontextmanager
    async def slot(self, server: str, on_position: PositionSink | None = None) -> AsyncIterator[None]:
        """Hold one engine slot for the block; waits (reporting positions) when all are taken."""
        if self._closed:
            raise AdmissionClosed
        if self.in_flight < self.max_in_flight and not self._lines:
            self.in_flight += 1
        else:
            if self._waiting >= self.max_waiting:
                raise QueueFull
            waiter = _Waiter(server)
            self._lines.setdefault(server, deque()).append(waiter)
            self._waiting += 1
            self._publish_positions()
            try:
                while True:
                    update = await waiter.updates.get()
                    if update == 0:
                        break
                    if update < 0:
                        raise AdmissionClosed
                    # skip stale positions when several changes queued up
                    if not waiter.updates.empty():
                        continue
                    if on_position is not None:
                        await on_position(update)
            except BaseException:
                if waiter.granted:
                    self._release()
                else:
                    self._remove(waiter)
                raise
        try:
            yield
        finally:
            self._release()
