"""Inline mode: `@bot eating otter` offers 4 freshly drawn candidates, answered inside the deadline.

Telegram sends a query per keystroke. Each user has at most one live query: a newer one supersedes
the older, which is dropped if it is still in its debounce pause or waiting in the service's queue
(its generation is cancelled); a generation that already started runs on and warms the cache.
Answers always go out before `telegram.inline_deadline_s`: what is ready (and uploaded to the
storage chat for a file_id) is offered, plus a button to continue in the private chat when the
stickers could not be made in time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQuery,
    InlineQueryResultCachedSticker,
    InlineQueryResultsButton,
    Update,
)
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from adapters.telegram import texts
from adapters.telegram.callback_data import add_to_pack
from adapters.telegram.context import TelegramContext
from adapters.telegram.errors import best_effort
from adapters.telegram.parsing import inline_request
from adapters.telegram.start_links import StartLinks
from bot.state.access import state_for
from bot.types import StickerFile, StickerReply

log = logging.getLogger(__name__)

CANDIDATES = 4
MAX_DEADLINE_S = 9.0  # Telegram rejects answers after roughly 10 s ("query is too old")
COMPLETE_CACHE_S = 30  # Telegram may reuse a complete answer for this user and query
_RECENT_MAX = 512
_SHARED_TTL_S = 3600.0  # inline answers other bot processes may reuse
_ANSWER_RESERVE_S = 0.3  # kept for the answerInlineQuery call itself


@dataclass(eq=False)
class _Job:
    query_id: str
    started: bool = False
    superseded: bool = False
    task: asyncio.Task[StickerReply] | None = None

    def on_position(self, position: int) -> None:
        if position == 0:
            self.started = True


@dataclass(frozen=True, slots=True)
class _Candidate:
    result_id: str
    file_id: str
    record_id: str | None
    index: int


class InlineStickers:
    def __init__(self, ctx: TelegramContext, links: StartLinks) -> None:
        self.ctx = ctx
        self.links = links
        self._live: dict[int, _Job] = {}
        self._recent: OrderedDict[tuple[int, str], tuple[_Candidate, ...]] = OrderedDict()
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
            if not previous.started and previous.task is not None:
                previous.task.cancel()
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
        request = inline_request(query.from_user, text, CANDIDATES)
        job.task = loop.create_task(self.ctx.service.handle(request, on_position=job.on_position))
        budget = deadline - loop.time() - self.ctx.options.inline_upload_margin_s
        await asyncio.wait({job.task}, timeout=max(budget, 0.0))
        if job.task.cancelled():
            return  # superseded while waiting in line
        if not job.task.done():
            finishing = self.ctx.spawn(self._finish_late(bot, job.task, key))
            self._late[key] = finishing
            finishing.add_done_callback(
                lambda t: self._late.pop(key, None) if self._late.get(key) is t else None
            )
            await self._answer(query, (), button=self._continue_button(text, texts.INLINE_CONTINUE))
            return
        if job.task.exception() is not None:
            log.error(
                "telegram: inline generation failed for query %r", text[:80], exc_info=job.task.exception()
            )
            await self._answer(query, (), button=self._continue_button(text, texts.INLINE_CONTINUE))
            return
        reply = job.task.result()
        if reply.error is not None:
            await self._answer(query, (), button=self._continue_button(text, reply.error.message))
            return
        remaining = deadline - loop.time() - _ANSWER_RESERVE_S
        candidates = await self._upload(bot, reply, within_s=remaining)
        if len(candidates) == len(reply.stickers):
            self._remember(key, candidates)
            await self._answer(query, candidates, cache_time=COMPLETE_CACHE_S)
        else:
            await self._answer(query, candidates, button=self._continue_button(text, texts.INLINE_CONTINUE))

    async def _upload(self, bot: Bot, reply: StickerReply, *, within_s: float) -> tuple[_Candidate, ...]:
        """File ids for the reply's stickers; those not uploaded within `within_s` are left out (they
        finish in the background, so the next answer has them)."""
        tasks = [
            self.ctx.spawn(self._candidate(bot, reply, index, sticker))
            for index, sticker in enumerate(reply.stickers)
        ]
        await asyncio.wait(tasks, timeout=max(within_s, 0.0))
        return tuple(
            t.result()
            for t in tasks
            if t.done() and not t.cancelled() and t.exception() is None and t.result()
        )

    async def _candidate(
        self, bot: Bot, reply: StickerReply, index: int, sticker: StickerFile
    ) -> _Candidate | None:
        try:
            file_id = await self.ctx.uploads.file_id(bot, sticker)
        except TelegramError as err:
            log.warning("telegram: storage upload of %s failed: %s", sticker.sha256[:12], err.message)
            return None
        if file_id is None:
            return None
        return _Candidate(f"{index}-{sticker.sha256[:40]}", file_id, reply.record_id, index)

    async def _finish_late(self, bot: Bot, task: asyncio.Task[StickerReply], key: tuple[int, str]) -> None:
        """A generation that missed the deadline still uploads its stickers for the next identical query."""
        await asyncio.wait({task})
        if task.cancelled():
            return  # superseded by a newer keystroke
        if task.exception() is not None:
            log.error("telegram: late inline generation failed", exc_info=task.exception())
            return
        reply = task.result()
        if reply.error is None and reply.stickers:
            candidates = await self._upload(bot, reply, within_s=60.0)
            if len(candidates) == len(reply.stickers):
                self._remember(key, candidates)

    def _remember(self, key: tuple[int, str], candidates: tuple[_Candidate, ...]) -> None:
        self._recent[key] = candidates
        self._recent.move_to_end(key)
        while len(self._recent) > _RECENT_MAX:
            self._recent.popitem(last=False)
        value = json.dumps([dataclasses.astuple(c) for c in candidates]).encode()
        self.ctx.spawn(state_for(self.ctx.service).keys.put(_shared_key(key), value, _SHARED_TTL_S))

    async def _shared_recent(self, key: tuple[int, str]) -> tuple[_Candidate, ...] | None:
        """Candidates another bot process made for this query (shared state, with a TTL)."""
        raw = await state_for(self.ctx.service).keys.get(_shared_key(key))
        if raw is None:
            return None
        try:
            return tuple(_Candidate(*item) for item in json.loads(raw))
        except (ValueError, TypeError):
            return None

    def _continue_button(self, text: str, label: str) -> InlineQueryResultsButton:
        return InlineQueryResultsButton(label[:64], start_parameter=self.links.encode(text))

    async def _answer(
        self,
        query: InlineQuery,
        candidates: tuple[_Candidate, ...],
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
