"""The sticker service: everything between a neutral request and a neutral reply.

A request's path: plan (parse, style, prompt: `bot.planning`) → rate limits → safety → cache →
fair admission → engine (`bot.generation`) → formats, cache and record (`bot.results`) → reply,
all inside one end-to-end deadline (`limits.request_deadline_s`, waiting included). `handle` never
raises (except on cancellation): every failure becomes a `UserError` in the reply.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bot import emoji as emoji_table
from bot import messages
from bot.animation import Animator, animated_formats
from bot.cache import ResultIndex, StickerCache, StickerStore, is_sha256
from bot.charging import RequestCharges
from bot.config import AppConfig
from bot.generation import Generations, PositionReporter
from bot.inflight import InFlight
from bot.logs import request_context
from bot.metrics import Metrics
from bot.motion import DIFFUSION
from bot.planning import Plan, ScopeSettings, fail, needs_parent, needs_screening, plan_request
from bot.preferences import Preferences
from bot.records import RecordStore
from bot.results import Results
from bot.safety import BlockListFilter, PromptFilter
from bot.settings import SettingsStore
from bot.state.shared import SharedState, local_state
from bot.storage import Database, DatabaseError, open_database
from bot.teaching.errors import TeachError
from bot.teaching.subjects import SubjectUse
from bot.types import (
    ErrorKind,
    PositionCallback,
    RequestKind,
    Scope,
    ServiceError,
    ServiceHealth,
    StickerRecord,
    StickerReply,
    StickerRequest,
    StickerServiceAPI,
    StyleInfo,
    UserError,
)

if TYPE_CHECKING:
    from bot.teaching.service import TeachService
from bot.user_errors import chat_user_error, is_expected, user_error_for
from generator.api import GeneratorError, StickerEngine

__all__ = ["StickerService", "fail", "user_error_for", "with_storage_under"]

log = logging.getLogger(__name__)


class StickerService(StickerServiceAPI):
    """Implements `bot.types.StickerServiceAPI`. Build with `await StickerService.create(config, engine)`."""

    def __init__(
        self,
        config: AppConfig,
        engine: StickerEngine,
        database: Database,
        store: StickerStore,
        *,
        safety: PromptFilter | None = None,
        metrics: Metrics | None = None,
        owns_database: bool = True,
        owns_engine: bool = False,
        state: SharedState | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        self.database = database
        self.metrics = metrics or Metrics()
        self.settings = SettingsStore(database)
        self.records = RecordStore(database)
        self.cache = StickerCache(store, ResultIndex(database))
        self.results = Results(self.cache, self.records, config.model.path)
        self.animator = Animator(self.cache)
        self.preferences = Preferences(
            self.settings, engine.styles, config.engine.default_style, engine.unavailable_styles
        )
        self.safety: PromptFilter = safety or BlockListFilter.from_config(
            config.safety.block_list, config.safety.block_list_file
        )
        self.state = state or local_state(config)  # shared by processes when `state.url` is set
        self.rate_limits = self.state.limits
        self.charges = RequestCharges(self.rate_limits)
        self.admission = self.state.admission
        self.generations = Generations(engine, self.admission, self.metrics)
        self.metrics.track_queue(
            lambda: self.admission.waiting + self.engine.queue_length(), lambda: self.admission.in_flight
        )
        self.metrics.track_engine(engine)
        self.requests = InFlight("request")
        self.teaching: TeachService | None = None  # set by the app when `teach.enabled`
        self._owns_database = owns_database
        self._owns_engine = owns_engine
        self._closed = False

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    async def create(
        cls,
        config: AppConfig,
        engine: StickerEngine,
        *,
        database: Database | None = None,
        safety: PromptFilter | None = None,
        owns_engine: bool = False,
        state: SharedState | None = None,
    ) -> StickerService:
        """Open the database (migrating it) unless given one, and index the sticker store."""
        owns_database = database is None
        db = database or await open_database(config.storage.url, pool_size=config.storage.pool_size)
        try:
            store = (state or local_state(config)).sticker_store(db)
            await asyncio.to_thread(store.load)
        except BaseException:
            if owns_database:
                await db.close()
            raise
        return cls(
            config,
            engine,
            db,
            store,
            safety=safety,
            owns_database=owns_database,
            owns_engine=owns_engine,
            state=state,
        )

    async def housekeeping(self) -> None:
        """Forget records and cache index entries older than `storage.keep_records_days`."""
        days = self.config.storage.keep_records_days
        if days <= 0:
            return
        try:
            records = await self.records.prune(days * 86400)
            entries = await self.cache.index.prune(days * 86400)
        except DatabaseError:
            log.warning("housekeeping failed", exc_info=True)
            return
        if records or entries:
            log.info("housekeeping: removed %d old record(s) and %d cache entries", records, entries)

    async def run_housekeeping(self, every_s: float = 3600.0) -> None:
        """Run `housekeeping` now and then every `every_s` seconds, until cancelled."""
        while True:
            await self.housekeeping()
            await asyncio.sleep(every_s)

    @property
    def active_requests(self) -> int:
        return self.requests.running

    def begin_shutdown(self) -> None:
        """New requests get a "restarting" reply from now on; in-flight ones continue."""
        self.requests.closing = True

    async def drain(self, timeout_s: float) -> bool:
        """Wait for in-flight requests; after `timeout_s`, waiting ones get a "restarting" reply.

        Returns True when everything finished in time."""
        if await self.requests.drain(timeout_s):
            return True
        log.warning("shutdown: %d request(s) still running after %.1fs", self.active_requests, timeout_s)
        return False

    async def abort(self, timeout_s: float = 5.0) -> None:
        """Give every request still waiting or generating a "restarting" reply now."""
        self.begin_shutdown()
        await self.generations.abort(timeout_s)
        if not await self.requests.drain(timeout_s):
            log.error("shutdown: %d request(s) did not finish after abort", self.active_requests)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.begin_shutdown()
        self.admission.close()
        if self.teaching is not None:
            await self.teaching.close()
        if self._owns_engine:
            await self.engine.close()
        if self._owns_database:
            await self.database.close()

    # ------------------------------------------------------------------ StickerServiceAPI
    async def handle(
        self, request: StickerRequest, on_position: PositionCallback | None = None
    ) -> StickerReply:
        started = time.perf_counter()
        with request_context(request.request_id):
            self.metrics.requests.labels(request.platform, request.kind.value).inc()
            async with self.requests.track():
                reply = await self._reply(request, PositionReporter(on_position))
            self._count(reply, time.perf_counter() - started)
            return reply

    async def _reply(self, request: StickerRequest, report: PositionReporter) -> StickerReply:
        """`_handle` within the request's deadline, every failure turned into a reply."""
        deadline = asyncio.timeout(self.config.limits.request_deadline_s or None)
        try:
            if self.requests.closing:
                raise fail(ErrorKind.SHUTTING_DOWN, messages.SHUTTING_DOWN)
            async with deadline:
                return await self._handle(request, report)
        except ServiceError as exc:
            return StickerReply(request=request, error=exc.error)
        except GeneratorError as exc:
            if not is_expected(exc):
                log.warning("engine error: %s", exc)
            return StickerReply(request=request, error=self.user_error(exc))
        except TimeoutError:
            if not deadline.expired():
                raise
            log.info("request deadline (%gs) passed", self.config.limits.request_deadline_s)
            return StickerReply(request=request, error=UserError(ErrorKind.TIMEOUT, messages.TOO_LONG))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("request failed (%s from %s:%s)", request.kind, request.platform, request.user_id)
            return StickerReply(request=request, error=UserError(ErrorKind.FAILED, messages.FAILED))

    def _count(self, reply: StickerReply, elapsed: float) -> None:
        request = reply.request
        outcome = "ok" if reply.error is None else reply.error.kind.value
        self.metrics.replies.labels(outcome).inc()
        self.metrics.latency.labels(outcome).observe(elapsed)
        if reply.error is not None:
            self.metrics.errors.labels(reply.error.kind.value).inc()
        log.info(
            "reply %s platform=%s kind=%s style=%s seed=%s stickers=%d cached=%s %.0fms",
            outcome,
            request.platform,
            request.kind.value,
            reply.style,
            reply.seed,
            len(reply.stickers),
            reply.cached,
            elapsed * 1000,
        )

    def health(self) -> ServiceHealth:
        """Ready once the engine can make stickers; with `problem` set when it cannot (e.g. no model)."""
        health = self.engine.health()
        if health.error is not None:
            return ServiceHealth(ready=False, problem=self.user_error(health.error))
        return ServiceHealth(ready=health.ready)

    def user_error(self, exc: GeneratorError) -> UserError:
        """What a chat user reads for `exc` (a missing model names the model and who can fix it)."""
        return chat_user_error(exc, self.config.model)

    def styles(self) -> Sequence[StyleInfo]:
        return [StyleInfo(s.name, s.description, s.subject) for s in self.engine.styles()]

    def expression_for(self, emoji: str) -> str | None:
        return emoji_table.expression_for(emoji)

    async def default_style(self, scope: Scope) -> str:
        return await self.preferences.default_style(scope)

    async def set_default_style(self, scope: Scope, style: str, *, is_admin: bool) -> str:
        return await self.preferences.set_default_style(scope, style, is_admin=is_admin)

    async def get_option(self, scope: Scope, key: str, default: str | None = None) -> str | None:
        return await self.preferences.get_option(scope, key, default)

    async def set_option(self, scope: Scope, key: str, value: str, *, is_admin: bool) -> None:
        await self.preferences.set_option(scope, key, value, is_admin=is_admin)

    async def record(self, record_id: str) -> StickerRecord | None:
        return await self.records.get(record_id)

    async def sticker_file(self, sha256: str) -> bytes | None:
        if not isinstance(sha256, str) or not is_sha256(sha256):
            return None
        return await self.cache.store.get(sha256)

    # ------------------------------------------------------------------ the request path
    @staticmethod
    def scope_for(request: StickerRequest) -> Scope:
        return Scope(request.platform, request.scope_server, request.conversation_id)

    async def _handle(self, request: StickerRequest, report: PositionReporter) -> StickerReply:
        plan = await self._plan(request)
        weight = self._weight(plan)
        await self.charges.charge(request, weight)
        try:
            return await self._serve(request, plan, report)
        except BaseException:
            # a diffusion animation refused or failed (no motion adapter, deadline, engine error) keeps
            # only a plain request's cost: its extra weight goes back to the user's and server's buckets
            if weight > 1.0:
                await asyncio.shield(self.charges.refund(request, weight - 1.0))
            raise

    async def _serve(self, request: StickerRequest, plan: Plan, report: PositionReporter) -> StickerReply:
        if needs_screening(request):
            verdict = await self.safety.check(plan.text)
            if not verdict.allowed:
                log.info("refused by the prompt filter: %s", verdict.reason)
                raise fail(ErrorKind.UNSAFE, verdict.message)
        if request.kind == RequestKind.ANIMATE:  # that exact earlier sticker: nothing new is drawn
            return await self.animator.animate_parent(request, plan, self.results)
        key = self.results.key_for(plan)
        cached = await self.results.lookup(key)
        if cached is not None:
            self.metrics.cache_hits.inc()
            webps = [data for _sha, data in cached]
            hashes = tuple(sha for sha, _data in cached)
        else:
            webps = await self.generations.run(request, plan, report)
            hashes = await self.results.remember(key, webps)
        if plan.animate == DIFFUSION:
            formats = animated_formats(request.platform, request.formats)
            files = await self.animator.diffusion_files(request, plan, hashes, formats, self.generations)
        elif plan.animate:
            formats = animated_formats(request.platform, request.formats)
            files = await self.animator.files(webps, hashes, plan.seed, plan.animate, formats)
        else:
            files = await self.results.files(request, plan, key, webps, hashes)
        return StickerReply(
            request=request,
            stickers=files,
            record_id=await self.results.record(request, plan, hashes),
            style=plan.style.name,
            seed=plan.seed,
            prompt=plan.built.prompt,
            emoji=plan.emoji,
            cached=cached is not None,
            motion=plan.animate,
        )

    def _weight(self, plan: Plan) -> float:
        """Tokens a request costs: one, or `limits.diffusion_animation_weight` for video diffusion."""
        return self.config.limits.diffusion_animation_weight if plan.animate == DIFFUSION else 1.0

    async def _plan(self, request: StickerRequest) -> Plan:
        """Load what planning needs (the scope's settings, a reroll's parent), then plan."""
        settings: ScopeSettings = await self.preferences.settings_for(self.scope_for(request))
        parent = await self.records.get(request.parent_id or "") if needs_parent(request) else None
        styles = self.engine.styles()
        if not styles and (problem := self.health().problem) is not None:
            raise ServiceError(problem)  # e.g. a Ray cluster not reached yet: no style list at all
        subject = await self._taught_subject(request, parent)
        if subject is not None:  # "my dog": the taught subject's LoRA on the style (bot.teaching)
            request, styles = subject.request(request), subject.styles(styles)
        plan = plan_request(
            request,
            styles=styles,
            unavailable=self.engine.unavailable_styles(),
            configured_style=self.config.engine.default_style,
            settings=settings,
            parent=parent,
        )
        return subject.finish(plan) if subject is not None else plan

    async def _taught_subject(
        self, request: StickerRequest, parent: StickerRecord | None
    ) -> SubjectUse | None:
        if self.teaching is None:
            return None
        try:
            return await self.teaching.resolve(request, parent)
        except TeachError as exc:
            raise fail(ErrorKind.NOT_FOUND, exc.message) from None


def with_storage_under(config: AppConfig, directory: Any) -> AppConfig:
    """A copy of `config` whose database and sticker cache live under `directory` (tests, demos)."""
    storage = config.storage.model_copy(
        update={"url": f"sqlite:///{directory}/stickerbot.db", "cache_dir": f"{directory}/cache"}
    )
    return config.model_copy(update={"storage": storage})
