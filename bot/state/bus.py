"""Room fan-out across processes: publish an event to a room, and every process's subscribers get it.

In process the bus calls the subscribers directly. With Redis it publishes on `sb:room:<room>`
(one pattern subscription per process); an event carries the publishing process's id and comes back
to every process, including the publisher, so each process delivers it to its own connections once.
Presence is a sorted set per room (member = process + user, score = expiry), renewed by the
process while the user has a connection there, so a killed process's people drop out after
`presence_ttl_s`; `count` counts distinct users.
History is not kept here: it stays in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from bot.state.redis_link import KEY_PREFIX, RedisLink, redis_errors

log = logging.getLogger("stickerbot.state")

FEATURE = "room fan-out"
Subscriber = Callable[[str, dict[str, Any]], Awaitable[None]]


class RoomBus(Protocol):
    async def start(self, subscriber: Subscriber) -> None: ...
    async def publish(self, room: str, event: dict[str, Any]) -> None: ...
    async def join(self, room: str, member: str) -> None: ...
    async def leave(self, room: str, member: str) -> None: ...
    async def count(self, room: str) -> int: ...
    async def close(self) -> None: ...


class LocalRoomBus:
    def __init__(self) -> None:
        self._subscriber: Subscriber | None = None
        self._members: dict[str, set[str]] = {}

    async def start(self, subscriber: Subscriber) -> None:
        self._subscriber = subscriber

    async def publish(self, room: str, event: dict[str, Any]) -> None:
        if self._subscriber is not None:
            await self._subscriber(room, event)

    async def join(self, room: str, member: str) -> None:
        self._members.setdefault(room, set()).add(member)

    async def leave(self, room: str, member: str) -> None:
        self._members.get(room, set()).discard(member)

    async def count(self, room: str) -> int:
        return len(self._members.get(room, ()))

    async def close(self) -> None:
        self._subscriber = None


class RedisRoomBus:
    def __init__(self, link: RedisLink, *, presence_ttl_s: float = 30.0) -> None:
        self.link = link
        self.local = LocalRoomBus()
        self.presence_ttl_s = presence_ttl_s
        self._subscriber: Subscriber | None = None
        self._members: dict[str, set[str]] = {}  # this process's own members, renewed by the heartbeat
        self._tasks: list[asyncio.Task[None]] = []

    def _member(self, member: str) -> str:
        return f"{self.link.process_id}:{member}"

    async def start(self, subscriber: Subscriber) -> None:
        self._subscriber = subscriber
        await self.local.start(subscriber)
        self._tasks = [
            asyncio.create_task(self._listen(), name="room-bus"),
            asyncio.create_task(self._renew(), name="room-presence"),
        ]

    async def publish(self, room: str, event: dict[str, Any]) -> None:
        if self.link.available:
            payload = json.dumps({"origin": self.link.process_id, "event": event}, ensure_ascii=False)
            try:
                await self.link.client.publish(f"{KEY_PREFIX}room:{room}", payload)
                return
            except redis_errors() as exc:
                self.link.failed(FEATURE, exc)
        await self.local.publish(room, event)  # this process's people still see it

    async def _listen(self) -> None:
        while True:
            if not self.link.available:  # Redis is known to be down: don't add a failure of our own
                await asyncio.sleep(self.link.retry_s)
                continue
            pubsub = self.link.client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(f"{KEY_PREFIX}room:*")
                self.link.recovered(FEATURE)
                async for message in pubsub.listen():
                    if message.get("type") != "pmessage":
                        continue
                    room = bytes(message["channel"]).decode()[len(KEY_PREFIX) + len("room:") :]
                    try:
                        event = json.loads(message["data"])["event"]
                    except (ValueError, KeyError, TypeError):
                        continue
                    if self._subscriber is not None:
                        try:
                            await self._subscriber(room, event)
                        except Exception:
                            log.exception("room event delivery failed")
            except asyncio.CancelledError:
                raise
            except redis_errors() as exc:
                self.link.failed(FEATURE, exc)
                await asyncio.sleep(self.link.retry_s)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def join(self, room: str, member: str) -> None:
        self._members.setdefault(room, set()).add(member)
        await self.local.join(room, member)
        await self._write(room, [member])

    async def leave(self, room: str, member: str) -> None:
        self._members.get(room, set()).discard(member)
        await self.local.leave(room, member)
        if self.link.available:
            try:
                await self.link.client.zrem(f"{KEY_PREFIX}presence:{room}", self._member(member))
            except redis_errors() as exc:
                self.link.failed(FEATURE, exc)

    async def count(self, room: str) -> int:
        if self.link.available:
            try:
                key = f"{KEY_PREFIX}presence:{room}"
                live = await self.link.client.zrangebyscore(key, time.time(), "+inf")
                return len({bytes(m).decode().split(":", 1)[-1] for m in live})  # people, not tabs
            except redis_errors() as exc:
                self.link.failed(FEATURE, exc)
        return await self.local.count(room)

    async def _write(self, room: str, members: list[str]) -> None:
        if not members or not self.link.available:
            return
        expiry = time.time() + self.presence_ttl_s
        key = f"{KEY_PREFIX}presence:{room}"
        try:
            async with self.link.client.pipeline(transaction=False) as pipe:
                pipe.zadd(key, {self._member(m): expiry for m in members})
                pipe.zremrangebyscore(key, "-inf", time.time())
                await pipe.execute()
        except redis_errors() as exc:
            self.link.failed(FEATURE, exc)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.presence_ttl_s / 3)
            for room, members in list(self._members.items()):
                await self._write(room, list(members))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for room, members in list(self._members.items()):
            for member in list(members):
                await self.leave(room, member)
