"""The sticker service: everything between a neutral request and a neutral reply.

A request's path: validate and parse → rate limits → safety → style resolution → prompt →
cache → fair admission → engine → formats → cache + record → reply. `handle` never raises
(except on cancellation): every failure becomes a `UserError` in the reply.
"""

from __future__ import annotations

import asyncio
import io
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from bot import emoji as emoji_table
from bot import messages
from bot.cache import ResultIndex, StickerCache, StickerStore, is_sha256, result_key, sha256_hex
from bot.config import AppConfig
from bot.limits import AdmissionClosed, QueueFull
from bot.logs import request_context
from bot.metrics import Metrics
from bot.prompts import (
    MAX_SEED,
    BuiltPrompt,
    ParsedText,
    build_expression_prompt,
    build_prompt,
    known_subjects,
    parse_count,
    parse_text,
)
from bot.records import RecordStore
from bot.safety import BlockListFilter, PromptFilter, negative_prompt
from bot.settings import DEFAULT_STYLE, SettingsStore, normalise_option
from bot.state.shared import SharedState, local_state
from bot.storage import Database, DatabaseError, open_database
from bot.types import (
    ErrorKind,
    PositionCallback,
    RequestKind,
    Scope,
    ServiceError,
    ServiceHealth,
    StickerFile,
    StickerFormat,
    StickerRecord,
    StickerReply,
    StickerRequest,
    StickerServiceAPI,
    StyleInfo,
    UserError,
)
from generator.api import (
    MAX_PROMPT_CHARS,
    EngineClosed,
    GenerationRequest,
    GenerationResult,
    GenerationTimeout,
    GeneratorError,
    InvalidRequest,
    ModelMissing,
    Overloaded,
    StickerEngine,
    StyleSummary,
    UnknownStyle,
)

log = logging.getLogger(__name__)


_GENERATOR_KINDS: dict[type[GeneratorError], ErrorKind] = {
    InvalidRequest: ErrorKind.INVALID,
    UnknownStyle: ErrorKind.UNKNOWN_STYLE,
    ModelMissing: ErrorKind.MODEL_MISSING,
    Overloaded: ErrorKind.OVERLOADED,
    GenerationTimeout: ErrorKind.TIMEOUT,
    EngineClosed: ErrorKind.SHUTTING_DOWN,
}


def user_error_for(exc: GeneratorError) -> UserError:
    for cls, kind in _GENERATOR_KINDS.items():
        if isinstance(exc, cls):
            return UserError(kind, exc.user_message)
    return UserError(ErrorKind.FAILED, exc.user_message or messages.FAILED)


def fail(kind: ErrorKind, message: str) -> ServiceError:
    return ServiceError(UserError(kind, message))


class _PositionReporter:
    """Forwards place-in-line updates to the adapter: deduplicated, never raising."""

    def __init__(self, callback: PositionCallback | None) -> None:
        self._callback = callback
        self._last: int | None = None

    async def __call__(self, position: int) -> None:
        if self._callback is None or position == self._last:
            return
        self._last = position
        try:
            result = self._callback(position)
            if asyncio.iscoroutine(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("position callback failed", exc_info=True)


@dataclass(frozen=True, slots=True)
class _ScopeSettings:
    """A scope's settings as stored: the conversation's own values and the server's."""

    conversation: dict[str, str]
    server: dict[str, str]

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.conversation.get(key, self.server.get(key, default))


@dataclass(frozen=True, slots=True)
class _Plan:
    """Everything decided before generating."""

    style: StyleSummary
    built: BuiltPrompt
    text: str
    count: int
    seed: int
    outline: bool | None
    negative: str
    emoji: str


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
        self.safety: PromptFilter = safety or BlockListFilter.from_config(
            config.safety.block_list, config.safety.block_list_file
        )
        self.state = state or local_state(config)  # shared by processes when `state.url` is set
        self.rate_limits = self.state.limits
        self.admission = self.state.admission
        self.metrics.track_queue(
            lambda: self.admission.waiting + self.engine.queue_length(), lambda: self.admission.in_flight
        )
        self.metrics.track_engine(engine)
        self._owns_database = owns_database
        self._owns_engine = owns_engine
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._closed = False
        self._aborting = False
        self._generations: set[asyncio.Future[GenerationResult]] = set()

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
        return self._active

    def begin_shutdown(self) -> None:
        """New requests get a "restarting" reply from now on; in-flight ones continue."""
        self._closing = True

    async def drain(self, timeout_s: float) -> bool:
        """Wait for in-flight requests; after `timeout_s`, waiting ones get a "restarting" reply.

        Returns True when everything finished in time."""
        self.begin_shutdown()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
            return True
        except TimeoutError:
            log.warning("shutdown: %d request(s) still running after %.1fs", self._active, timeout_s)
            return False

    async def abort(self, timeout_s: float = 5.0) -> None:
        """Give every request still waiting or generating a "restarting" reply now."""
        self.begin_shutdown()
        self._aborting = True
        self.admission.close()
        for task in list(self._generations):
            task.cancel()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            log.error("shutdown: %d request(s) did not finish after abort", self._active)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.begin_shutdown()
        self.admission.close()
        if self._owns_engine:
            await self.engine.close()
        if self._owns_database:
            await self.database.close()

    # ------------------------------------------------------------------ StickerServiceAPI
    async def handle(
        self, request: StickerRequest, on_position: PositionCallback | None = None
    ) -> StickerReply:
        started = time.perf_counter()
        self._active += 1
        self._idle.clear()
        with request_context(request.request_id):
            self.metrics.requests.labels(request.platform, request.kind.value).inc()
            try:
                if self._closing:
                    raise fail(ErrorKind.SHUTTING_DOWN, messages.SHUTTING_DOWN)
                reply = await self._handle(request, _PositionReporter(on_position))
            except ServiceError as exc:
                reply = StickerReply(request=request, error=exc.error)
            except GeneratorError as exc:
                if isinstance(exc, EngineClosed) or not isinstance(exc, tuple(_GENERATOR_KINDS)):
                    log.warning("engine error: %s", exc)
                reply = StickerReply(request=request, error=self.user_error(exc))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "request failed (%s from %s:%s)", request.kind, request.platform, request.user_id
                )
                reply = StickerReply(request=request, error=UserError(ErrorKind.FAILED, messages.FAILED))
            finally:
                self._active -= 1
                if self._active == 0:
                    self._idle.set()
            outcome = "ok" if reply.error is None else reply.error.kind.value
            elapsed = time.perf_counter() - started
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
            return reply

    def health(self) -> ServiceHealth:
        """Ready once the engine has loaded its model; with `problem` set when loading failed."""
        error = getattr(self.engine, "load_error", None)
        if isinstance(error, GeneratorError):
            return ServiceHealth(ready=False, problem=self.user_error(error))
        return ServiceHealth(ready=bool(getattr(self.engine, "ready", True)))

    def user_error(self, exc: GeneratorError) -> UserError:
        """`user_error_for`, except that a missing model gets a sentence for chat users (who
        can't run `huggingface-cli`) naming the model and who can fix it."""
        if isinstance(exc, ModelMissing):
            return UserError(ErrorKind.MODEL_MISSING, messages.model_missing(self._missing_model(exc)))
        return user_error_for(exc)

    def _missing_model(self, exc: ModelMissing) -> str:
        """Which configured model `exc` is about: the tiny VAE when its message names only that."""
        model = self.config.model
        text = exc.user_message
        if model.tiny_vae and model.tiny_vae in text and model.path not in text:
            return model.tiny_vae
        return model.path

    def styles(self) -> Sequence[StyleInfo]:
        return [StyleInfo(s.name, s.description, s.subject) for s in self.engine.styles()]

    def expression_for(self, emoji: str) -> str | None:
        return emoji_table.expression_for(emoji)

    async def default_style(self, scope: Scope) -> str:
        return self._default_style_in(await self._settings_for(scope))

    async def set_default_style(self, scope: Scope, style: str, *, is_admin: bool) -> str:
        if not is_admin:
            raise fail(ErrorKind.FORBIDDEN, messages.FORBIDDEN_STYLE)
        name = self._style(style).name
        await self._save_setting(scope, DEFAULT_STYLE, name)
        where = "this channel" if scope.conversation else "this server"
        return f"Default style for {where} is now “{name}”."

    async def get_option(self, scope: Scope, key: str, default: str | None = None) -> str | None:
        return (await self._settings_for(scope)).get(key, default)

    async def _settings_for(self, scope: Scope) -> _ScopeSettings:
        """Every setting for `scope` in one read; a database outage means the defaults."""
        try:
            conversation, server = await self.settings.levels(scope)
        except DatabaseError:
            log.warning("settings unavailable; using the defaults", exc_info=True)
            return _ScopeSettings({}, {})
        return _ScopeSettings(conversation, server)

    def _default_style_in(self, found: _ScopeSettings) -> str:
        """The conversation's default, else the server's, else the global one (skipping styles
        that no longer exist)."""
        styles = self._style_map()
        for level in (found.conversation, found.server):
            stored = level.get(DEFAULT_STYLE)
            if stored is not None and stored in styles:
                return stored
        return self._global_default_style(styles)

    async def _save_setting(self, scope: Scope, key: str, value: str) -> None:
        try:
            await self.settings.set(scope, key, value)
        except DatabaseError:
            log.exception("could not save setting %s", key)
            raise fail(ErrorKind.FAILED, "I couldn't save that setting. Please try again later.") from None

    async def set_option(self, scope: Scope, key: str, value: str, *, is_admin: bool) -> None:
        if not is_admin:
            raise fail(ErrorKind.FORBIDDEN, messages.FORBIDDEN)
        key = key.strip().lower()
        if key == DEFAULT_STYLE:
            await self.set_default_style(scope, value, is_admin=is_admin)
            return
        try:
            normalised = normalise_option(key, value)
        except ValueError as exc:
            raise fail(ErrorKind.INVALID, f"“{key[:40]}” {exc}.") from None
        await self._save_setting(scope, key, normalised)

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

    def _style_map(self) -> dict[str, StyleSummary]:
        return {s.name: s for s in self.engine.styles()}

    def _global_default_style(self, styles: dict[str, StyleSummary]) -> str:
        configured = self.config.engine.default_style
        if configured in styles or not styles:
            return configured
        return next(iter(styles))

    def _style(self, name: str) -> StyleSummary:
        styles = self._style_map()
        key = name.strip().lower()
        if key in styles:
            return styles[key]
        shown = "".join(ch for ch in name.strip() if ch.isprintable())[:40]
        raise fail(
            ErrorKind.UNKNOWN_STYLE, f"I don't know the style “{shown}”. Styles: {', '.join(sorted(styles))}."
        )

    async def _handle(self, request: StickerRequest, report: _PositionReporter) -> StickerReply:
        plan = await self._plan(request)
        wait = await self.rate_limits.check(
            f"{request.platform}:{request.user_id}", self._server_key(request)
        )
        if wait > 0:
            raise fail(ErrorKind.RATE_LIMITED, f"Slow down a little — try again in {max(1, round(wait))}s.")
        if request.kind not in (RequestKind.REACTION, RequestKind.REROLL, RequestKind.VARIATIONS):
            verdict = await self.safety.check(plan.text)
            if not verdict.allowed:
                log.info("refused by the prompt filter: %s", verdict.reason)
                raise fail(ErrorKind.UNSAFE, verdict.message)

        key = result_key(
            model=self.config.model.path,
            prompt=plan.built.prompt,
            negative=plan.negative,
            style=plan.style.name,
            template=plan.style.template,
            trigger=plan.style.trigger,
            steps=plan.style.steps,
            seed=plan.seed,
            count=plan.count,
            outline=plan.outline,
        )
        cached = await self._cache_lookup(key)
        if cached is not None:
            self.metrics.cache_hits.inc()
            webps = [data for _sha, data in cached]
            hashes = tuple(sha for sha, _data in cached)
        else:
            webps = await self._generate(request, plan, report)
            try:
                hashes = await self.cache.remember(key, webps)
            except (OSError, DatabaseError):  # disk full, database down: still answer with the stickers
                log.warning("could not store the result in the cache", exc_info=True)
                hashes = tuple(sha256_hex(w) for w in webps)
        files = await self._files(request, plan, key, webps, hashes)
        try:
            record_id: str | None = (
                await self.records.add(
                    platform=request.platform,
                    user_id=request.user_id,
                    server=request.scope_server,
                    text=plan.text,
                    prompt=plan.built.prompt,
                    style=plan.style.name,
                    seed=plan.seed,
                    count=plan.count,
                    emoji=plan.emoji,
                    sticker_hashes=hashes,
                )
            ).record_id
        except DatabaseError:  # the stickers are made; only the buttons lose their record
            log.warning("could not store the sticker record", exc_info=True)
            record_id = None
        return StickerReply(
            request=request,
            stickers=files,
            record_id=record_id,
            style=plan.style.name,
            seed=plan.seed,
            prompt=plan.built.prompt,
            emoji=plan.emoji,
            cached=cached is not None,
        )

    def _server_key(self, request: StickerRequest) -> str:
        return f"{request.platform}:{request.scope_server}"

    async def _plan(self, request: StickerRequest) -> _Plan:
        found = await self._settings_for(self.scope_for(request))
        kind = request.kind
        parent: StickerRecord | None = None
        if kind in (RequestKind.REROLL, RequestKind.VARIATIONS):
            if not request.parent_id:
                raise fail(ErrorKind.INVALID, "Which sticker should I redo?")
            parent = await self.records.get(request.parent_id)
            if parent is None:
                raise fail(ErrorKind.NOT_FOUND, messages.STICKER_GONE)

        expression: str | None = None
        if kind == RequestKind.REACTION:
            expression = emoji_table.expression_for(request.emoji or "")
            if expression is None:
                raise fail(ErrorKind.INVALID, "I don't have a sticker for that emoji.")
            if found.get("reactions", "on") == "off":
                raise fail(ErrorKind.FORBIDDEN, "Reaction stickers are turned off here.")
            parsed = ParsedText(words="")
        else:
            parsed = parse_text(request.text) if request.text else ParsedText(words="")

        style_name = request.style or parsed.style or (parent.style if parent else None)
        style = self._style(style_name or self._default_style_in(found))

        if request.count is not None:
            count = parse_count(request.count)
        elif parsed.count is not None:
            count = parsed.count
        elif kind == RequestKind.VARIATIONS:
            count = messages.VARIATIONS_COUNT
        elif parent is not None:
            count = parent.count
        else:
            count = parse_count(found.get("count", "1") or "1")

        explicit_seed = request.seed if request.seed is not None else parsed.seed
        if explicit_seed is not None and parent is None:
            seed = explicit_seed
        else:
            seed = secrets.randbelow(MAX_SEED - 4)

        if request.outline is not None:
            outline: bool | None = request.outline
        else:
            outline = {"on": True, "off": False}.get(found.get("outline", "auto") or "auto")

        if kind == RequestKind.REACTION:
            assert expression is not None
            built = build_expression_prompt(expression, style)
            text = request.emoji or ""
            pick = emoji_table.display_emoji(text)
        elif parent is not None:
            if parent.style == style.name:
                built = BuiltPrompt(parent.prompt, "", "")
            else:
                built = build_prompt(parent.text, style, known_subjects(self.engine.styles()))
            text = parent.text
            pick = parent.emoji
        else:
            if not parsed.words:
                raise fail(ErrorKind.EMPTY_PROMPT, messages.EMPTY_PROMPT)
            words = emoji_table.replace_emoji(parsed.words)  # "😂 otter" → "laughing otter"
            built = build_prompt(words, style, known_subjects(self.engine.styles()))
            text = parsed.words
            pick = emoji_table.emoji_for(built.expression or words)
        if len(built.prompt) > MAX_PROMPT_CHARS:
            raise fail(
                ErrorKind.PROMPT_TOO_LONG, f"That's too long — keep it under {MAX_PROMPT_CHARS} characters."
            )
        return _Plan(
            style=style,
            built=built,
            text=text,
            count=count,
            seed=seed,
            outline=outline,
            negative=negative_prompt(self.config.safety.negative_prompt, style.negative_prompt),
            emoji=pick,
        )

    async def _generate(self, request: StickerRequest, plan: _Plan, report: _PositionReporter) -> list[bytes]:
        job = GenerationRequest(
            prompt=plan.built.prompt,
            style=plan.style.name,
            seed=plan.seed,
            count=plan.count,
            negative_prompt=plan.negative,
            outline=plan.outline,
            request_id=request.request_id,
        )

        async def in_line(position: int) -> None:
            await report(position + self.engine.queue_length())

        waited = time.perf_counter()
        try:
            async with self.admission.slot(self._server_key(request), in_line):
                self.metrics.wait_latency.observe(time.perf_counter() - waited)
                began = time.perf_counter()
                result = await self._run_engine(job, report)
                self.metrics.generation_latency.observe(time.perf_counter() - began)
        except QueueFull:
            raise fail(ErrorKind.OVERLOADED, messages.BUSY) from None
        except AdmissionClosed:
            raise fail(ErrorKind.SHUTTING_DOWN, messages.SHUTTING_DOWN) from None
        self.metrics.batches.labels(plan.style.name).inc()
        self.metrics.stickers.inc(len(result.stickers))
        if not result.stickers:
            raise fail(ErrorKind.FAILED, messages.FAILED)
        return [s.webp for s in result.stickers]

    async def _run_engine(self, job: GenerationRequest, report: _PositionReporter) -> GenerationResult:
        """The engine call as a task that `abort()` can cancel; that cancellation becomes a reply."""
        task = asyncio.ensure_future(self.engine.generate(job, on_position=report))
        self._generations.add(task)
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self._aborting and task.cancelled() and (current is None or not current.cancelling()):
                raise fail(ErrorKind.SHUTTING_DOWN, messages.SHUTTING_DOWN) from None
            raise
        finally:
            self._generations.discard(task)

    async def _cache_lookup(self, key: str) -> list[tuple[str, bytes]] | None:
        try:
            return await self.cache.lookup(key)
        except (OSError, DatabaseError):  # the cache is an optimisation: a failure is a miss
            log.warning("cache lookup failed", exc_info=True)
            return None

    async def _files(
        self, request: StickerRequest, plan: _Plan, key: str, webps: list[bytes], hashes: tuple[str, ...]
    ) -> tuple[StickerFile, ...]:
        formats = request.formats or frozenset({StickerFormat.WEBP})
        pngs: list[tuple[str, bytes]] = []
        if StickerFormat.DISCORD_PNG in formats:
            png_key = f"{key}:discord_png"
            found = await self._cache_lookup(png_key)
            if found is None:
                converted = await asyncio.to_thread(_discord_pngs, webps)
                try:
                    stored = await self.cache.remember(png_key, converted)
                except (OSError, DatabaseError):
                    log.warning("could not store the PNG stickers in the cache", exc_info=True)
                    stored = tuple(sha256_hex(p) for p in converted)
                found = list(zip(stored, converted, strict=True))
            pngs = found
        files: list[StickerFile] = []
        for i, (sha, data) in enumerate(zip(hashes, webps, strict=True)):
            seed = plan.seed + i
            if StickerFormat.WEBP in formats:
                w, h = _image_size(data)
                files.append(StickerFile(data, StickerFormat.WEBP, w, h, seed, sha))
            if pngs:
                png_sha, png = pngs[i]
                w, h = _image_size(png)
                files.append(StickerFile(png, StickerFormat.DISCORD_PNG, w, h, seed, png_sha))
        return tuple(files)


def _discord_pngs(webps: list[bytes]) -> list[bytes]:
    from generator.postprocess import discord_server_sticker  # Pillow work, loaded on first use

    return [discord_server_sticker(w) for w in webps]


def _image_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return int(im.width), int(im.height)


def with_storage_under(config: AppConfig, directory: Any) -> AppConfig:
    """A copy of `config` whose database and sticker cache live under `directory` (tests, demos)."""
    storage = replace(
        config.storage, url=f"sqlite:///{directory}/stickerbot.db", cache_dir=f"{directory}/cache"
    )
    return replace(config, storage=storage)
