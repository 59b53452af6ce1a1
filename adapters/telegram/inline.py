"""Inline mode: `@bot eating otter` offers 4 freshly drawn candidates, answered inside the deadline.

Telegram sends a query per keystroke. Each user has at most one live query: a newer one supersedes
the older, which is dropped if it is still in its debounce pause or waiting in the service's queue
(its generation is cancelled); a generation that already started runs on and warms the cache.
Answers always go out before `telegram.inline_deadline_s` with whatever is ready by then: the first
candidate is asked for alone and the other three right after it (one part of the same request), so
under load every query gets its first sticker before any query gets its fourth, and one sticker is
offered rather than none. Once the first candidate is made it is also animated with its expression's
preset (a WEBM video sticker, a third part of the same request), offered after the static ones when it
is uploaded in time. What misses the deadline is finished in the background and kept for the
next identical query. A button continues in the private chat when nothing could be made in time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQuery,
    InlineQueryResultCachedSticker,
    InlineQueryResultsButton,
    Update,
)
from telegram.ext import ContextTypes

from adapters.telegram import texts
from adapters.telegram.callback_data import add_to_pack
from adapters.telegram.context import TelegramContext
from adapters.telegram.errors import best_effort
from adapters.telegram.inline_uploads import Candidate, CandidateUploads, made
from adapters.telegram.parsing import inline_request
from adapters.telegram.start_links import StartLinks
from bot.state.access import state_for
from bot.types import RequestKind, StickerFormat, StickerReply, StickerRequest

log = logging.getLogger(__name__)

CANDIDATES = 4
MAX_DEADLINE_S = 9.0  # Telegram rejects answers after roughly 10 s ("query is too old")
COMPLETE_CACHE_S = 30  # Telegram may reuse a complete answer for this user and query
_RECENT_MAX = 512
_SHARED_TTL_S = 3600.0  # inline answers other bot processes may reuse
_ANSWER_RESERVE_S = 0.3  # kept for the answerInlineQuery call itself


@dataclass(eq=False)
class _Job:
    """One inline query's generation: the first candidate, then the rest (`rest` None: all at once)."""

    query_id: str
    started: bool = False
    rest_started: bool = False
    superseded: bool = False
    task: asyncio.Task[StickerReply] | None = None
    rest: asyncio.Task[StickerReply | None] | None = None
    animated: asyncio.Task[StickerReply | None] | None = None  # the first candidate, animated

    def on_position(self, position: int) -> None:
        if position == 0:
            self.started = True

    def on_rest_position(self, position: int) -> None:
        if position == 0:
            self.rest_started = True

    @property
    def parts(self) -> list[asyncio.Task[Any]]:
        return [t for t in (self.task, self.rest, self.animated) if t is not None]

    def cancel_unstarted(self) -> None:
        """Superseded: drop what has not reached the engine (started work runs on, warming the cache)."""
        if not self.started and self.task is not None:
            self.task.cancel()  # the rest waits for it, so it ends too
        elif not self.rest_started and self.rest is not None:
            self.rest.cancel()


class InlineStickers:
    def __init__(self, ctx: TelegramContext, links: StartLinks) -> None:
        self.ctx = ctx
        self.links = links
        self._live: dict[int, _Job] = {}
        self._recent: OrderedDict[tuple[int, str], tuple[Candidate, ...]] = OrderedDict()
        self._late: dict[tuple[int, str], asyncio.Task[None]] = {}  # generations that missed a deadline

    async def on_query(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.inline_query
        if query is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(self.ctx.config.inline_deadline_s, MAX_DEADLINE_S)
        text = " ".join(query.query.split())
        if not text:
            await self._answer(
                query, (), button=InlineQueryResultsButton(texts.INLINE_EMPTY, start_parameter="help")
            )
            return
        user_id = query.from_user.id
        job = _Job(query.id)
        self._supersede(user_id, job)
        try:
            await self._serve(context.bot, query, text, job, deadline)
        finally:
            if self._live.get(user_id) is job:
                del self._live[user_id]

    def _supersede(self, user_id: int, job: _Job) -> None:
        previous = self._live.get(user_id)
        if previous is not None:
            previous.superseded = True
            previous.cancel_unstarted()
        self._live[user_id] = job

    async def _serve(self, bot: Bot, query: InlineQuery, text: str, job: _Job, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        key = (query.from_user.id, text.casefold())
        late = self._late.get(key)
        if late is not None:
            # The same query is still being made for an earlier keystroke: wait for it, not anew.
            await asyncio.wait({late}, timeout=max(deadline - loop.time() - _ANSWER_RESERVE_S, 0.0))
        cached = self._recent.get(key) or await self._shared_recent(key)
        if cached:
            self._recent[key] = cached
            self._recent.move_to_end(key)
            await self._answer(query, cached, cache_time=COMPLETE_CACHE_S)
            return
        if late is not None:
            await self._answer(query, (), button=self._continue_button(text, texts.INLINE_CONTINUE))
            return
        if self.ctx.uploads.storage_chat_id is None:
            # Without a storage chat there is no way to get file ids for inline results.
            await self._answer(query, (), button=self._continue_button(text, texts.INLINE_UNAVAILABLE))
            return
        await asyncio.sleep(self.ctx.options.inline_debounce_s)
        if job.superseded:
            return  # a newer keystroke replaced this query; Telegram forgets unanswered ones
        self._start(job, inline_request(query.from_user, text, CANDIDATES))
        assert job.task is not None
        uploads = CandidateUploads(self.ctx, bot)
        waiting = set(job.parts)
        making_until = deadline - self.ctx.options.inline_upload_margin_s
        while waiting:
            done, waiting = await asyncio.wait(
                waiting, timeout=max(making_until - loop.time(), 0.0), return_when=asyncio.FIRST_COMPLETED
            )
            if not done:
                break
            for reply in (made(part) for part in job.parts if part in done):
                if reply is not None:
                    uploads.add(reply)  # uploading starts now, while the rest is still being made
        if job.task.cancelled():
            return  # superseded while waiting in line
        if not job.task.done():
            self._finish_in_background(bot, job, key)
            await self._answer(query, (), button=self._continue_button(text, texts.INLINE_CONTINUE))
            return
        if job.task.exception() is not None:
            log.error(
                "telegram: inline generation failed for query %r", text[:80], exc_info=job.task.exception()
            )
            await self._answer(query, (), button=self._continue_button(text, texts.INLINE_CONTINUE))
            return
        first = job.task.result()
        if first.error is not None:
            await self._answer(query, (), button=self._continue_button(text, first.error.message))
            return
        await uploads.wait(deadline - loop.time() - _ANSWER_RESERVE_S)
        candidates = uploads.ready()
        if not waiting and uploads.complete:
            self._remember(key, candidates)
            await self._answer(query, candidates, cache_time=COMPLETE_CACHE_S)
            return
        if not waiting - {job.animated} and uploads.static_complete:
            # Only the animated candidate missed the deadline: it is kept for the next identical query.
            self._finish_in_background(bot, job, key)
            await self._answer(query, candidates)
            return
        self._finish_in_background(bot, job, key)  # the rest is kept for the next identical query
        await self._answer(query, candidates, button=self._continue_button(text, texts.INLINE_CONTINUE))

    def _start(self, job: _Job, request: StickerRequest) -> None:
        """Ask for the first candidate alone and for the rest once it is made (same request id, so
        rate limits count the query once); or for all at once when `inline_first_alone` is off."""
        handle = self.ctx.service.handle
        loop = asyncio.get_running_loop()
        if not self.ctx.options.inline_first_alone:
            job.task = loop.create_task(handle(request, on_position=job.on_position))
            return
        job.task = loop.create_task(handle(replace(request, count=1), on_position=job.on_position))
        job.rest = loop.create_task(self._rest(job, request))
        if self.ctx.options.inline_animated:
            job.animated = loop.create_task(self._animated(job, request))

    async def _animated(self, job: _Job, request: StickerRequest) -> StickerReply | None:
        """The first candidate brought to life (🎬 on it: its exact bytes, the expression's preset, a
        WEBM video sticker); the same request id, so rate limits still count the query once."""
        assert job.task is not None
        first = await asyncio.shield(job.task)
        if first.error is not None or first.record_id is None or first.seed is None:
            return None
        animate = replace(
            request,
            kind=RequestKind.ANIMATE,
            parent_id=first.record_id,
            seed=first.seed,
            count=1,
            formats=frozenset({StickerFormat.WEBM}),
        )
        return await self.ctx.service.handle(animate)

    async def _rest(self, job: _Job, request: StickerRequest) -> StickerReply | None:
        assert job.task is not None
        first = await asyncio.shield(job.task)
        if first.error is not None or first.seed is None or request.count is None or request.count < 2:
            return None
        more = replace(request, count=request.count - 1, seed=first.seed + 1)
        return await self.ctx.service.handle(more, on_position=job.on_rest_position)

    def _finish_in_background(self, bot: Bot, job: _Job, key: tuple[int, str]) -> None:
        finishing = self.ctx.tasks.spawn(self._finish_late(bot, job, key))
        self._late[key] = finishing
        finishing.add_done_callback(lambda t: self._late.pop(key, None) if self._late.get(key) is t else None)

    async def _finish_late(self, bot: Bot, job: _Job, key: tuple[int, str]) -> None:
        """Candidates that missed the deadline are still made and uploaded for the next identical query."""
        await asyncio.wait(job.parts)
        if any(t.cancelled() for t in job.parts):
            return  # superseded by a newer keystroke
        failed = [t.exception() for t in job.parts if t.exception() is not None]
        if failed:
            log.error("telegram: late inline generation failed", exc_info=failed[0])
            return
        uploads = CandidateUploads(self.ctx, bot)
        for reply in (made(part) for part in job.parts):
            if reply is not None:
                uploads.add(reply)
        await uploads.wait(60.0)
        if uploads.ready() and uploads.complete:
            self._remember(key, uploads.ready())

    def _remember(self, key: tuple[int, str], candidates: tuple[Candidate, ...]) -> None:
        self._recent[key] = candidates
        self._recent.move_to_end(key)
        while len(self._recent) > _RECENT_MAX:
            self._recent.popitem(last=False)
        value = json.dumps([dataclasses.astuple(c) for c in candidates]).encode()
        self.ctx.tasks.spawn(state_for(self.ctx.service).keys.put(_shared_key(key), value, _SHARED_TTL_S))

    async def _shared_recent(self, key: tuple[int, str]) -> tuple[Candidate, ...] | None:
        """Candidates another bot process made for this query (shared state, with a TTL)."""
        raw = await state_for(self.ctx.service).keys.get(_shared_key(key))
        if raw is None:
            return None
        try:
            return tuple(Candidate(*item) for item in json.loads(raw))
        except (ValueError, TypeError):
            return None

    def _continue_button(self, text: str, label: str) -> InlineQueryResultsButton:
        return InlineQueryResultsButton(label[:64], start_parameter=self.links.encode(text))

    async def _answer(
        self,
        query: InlineQuery,
        candidates: tuple[Candidate, ...],
        *,
        button: InlineQueryResultsButton | None = None,
        cache_time: int = 0,
    ) -> None:
        results = [
            InlineQueryResultCachedSticker(
                id=c.result_id,
                sticker_file_id=c.file_id,
                reply_markup=_add_button(c.record_id, c.index),
            )
            for c in candidates
        ]
        await best_effort(
            lambda: query.answer(results, cache_time=cache_time, is_personal=True, button=button),
            what=f"answerInlineQuery {query.id}",
        )


def _shared_key(key: tuple[int, str]) -> str:
    return f"tg:inline:{key[0]}:{hashlib.sha256(key[1].encode()).hexdigest()[:32]}"


def _add_button(record_id: str | None, index: int) -> InlineKeyboardMarkup | None:
    """Stickers sent inline carry only ➕ (reroll needs a chat to answer in)."""
    if record_id is None:
        return None
    try:
        return InlineKeyboardMarkup(
            [[InlineKeyboardButton(texts.BUTTON_ADD, callback_data=add_to_pack(record_id, index))]]
        )
    except ValueError:
        return None
