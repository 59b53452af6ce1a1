"""The neutral language between adapters and the sticker service.

Adapters build a `StickerRequest` from a platform event and render the `StickerReply`
they get back. Nothing here knows any chat platform; `routing` is the adapter's own
opaque data (chat id, message id, interaction token…) carried back untouched.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

# Re-exported so adapters never import `generator` (one definition, in the generator's contract).
from generator.api import MAX_COUNT as MAX_COUNT
from generator.api import MAX_PROMPT_CHARS as MAX_PROMPT_CHARS
from generator.api import PositionCallback as PositionCallback


class RequestKind(StrEnum):
    COMMAND = "command"  # /sticker eating otter
    INLINE = "inline"  # Telegram inline query (several candidates)
    REACTION = "reaction"  # an emoji reaction on a message
    REROLL = "reroll"  # same prompt, new seed
    VARIATIONS = "variations"  # "4 more"
    ANIMATE = "animate"  # 🎬 Animate: that exact earlier sticker (parent_id, seed), brought to life


class StickerFormat(StrEnum):
    WEBP = "webp"  # chat sticker: WebP + alpha, one side 512, < 512,000 bytes
    DISCORD_PNG = "discord_png"  # Discord server sticker: PNG 320x320, <= 512 KiB
    # animated stickers (bot.animation picks the platform's own when a request names none)
    WEBM = "webm"  # Telegram video sticker: VP9 + alpha, 512 px, <= 3 s, <= 30 fps, <= 256 KB
    GIF = "gif"  # Discord attachment (animates everywhere)
    WEBP_ANIMATED = "webp_animated"  # web room: animated WebP with alpha
    DISCORD_APNG = "discord_apng"  # Discord server sticker: APNG 320x320, <= 512 KiB


class ErrorKind(StrEnum):
    EMPTY_PROMPT = "empty_prompt"
    PROMPT_TOO_LONG = "prompt_too_long"
    INVALID = "invalid"
    UNSAFE = "unsafe"
    UNKNOWN_STYLE = "unknown_style"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    OVERLOADED = "overloaded"
    TIMEOUT = "timeout"
    MODEL_MISSING = "model_missing"
    FAILED = "failed"
    NOT_FOUND = "not_found"
    SHUTTING_DOWN = "shutting_down"


@dataclass(frozen=True, slots=True)
class UserError:
    """A failure to show the user: a short, polite sentence, never a traceback."""

    kind: ErrorKind
    message: str


class ServiceError(Exception):
    """Raised by service calls other than `handle` (settings, lookups) with a user-presentable error."""

    def __init__(self, error: UserError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a setting applies: a server (guild / group chat / web room) on one platform.

    `conversation` narrows it to one channel or chat inside the server when set.
    """

    platform: str
    server: str
    conversation: str | None = None


@dataclass(frozen=True, slots=True)
class StickerRequest:
    platform: str  # "telegram" | "discord" | "web" | "cli" | …
    user_id: str
    conversation_id: str  # chat / channel / room
    server_id: str | None  # guild / group / room; None for private chats (then the conversation is the scope)
    text: str = ""  # raw user text, may carry options ("eating otter style:rabbit seed:42 n:4")
    kind: RequestKind = RequestKind.COMMAND
    style: str | None = None  # explicit style (command option)
    count: int | None = None  # 1..4 candidates
    seed: int | None = None
    emoji: str | None = None  # for reactions: the reaction emoji
    parent_id: str | None = None  # for reroll/variations: the sticker record being rerolled
    formats: frozenset[StickerFormat] = frozenset({StickerFormat.WEBP})
    outline: bool | None = None
    animate: str | None = None  # a motion preset, "diffusion" or "auto" (the expression chooses)
    routing: Any = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    # Who rate limits and the fair line count this against when the user and server ids are client-chosen
    # (the web room: the client's network address). None = the user and the server.
    limits_key: str | None = None

    @property
    def scope_server(self) -> str:
        return self.server_id if self.server_id is not None else self.conversation_id


@dataclass(frozen=True, slots=True)
class StickerFile:
    data: bytes
    format: StickerFormat
    width: int
    height: int
    seed: int
    sha256: str


@dataclass(frozen=True, slots=True)
class StickerReply:
    """The service's answer: either stickers (with what made them) or a `UserError`."""

    request: StickerRequest
    stickers: tuple[StickerFile, ...] = ()
    record_id: str | None = (
        None  # short id of the stored result: buttons carry it (reroll, more, add to pack)
    )
    style: str | None = None
    seed: int | None = None
    prompt: str | None = None  # the final prompt used
    emoji: str = "🙂"  # the emoji that best fits the expression (for sticker packs)
    cached: bool = False
    error: UserError | None = None
    motion: str | None = None  # set when the stickers are animated (the preset used)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def routing(self) -> Any:
        return self.request.routing


@dataclass(frozen=True, slots=True)
class ServiceHealth:
    """Whether stickers can be made right now. `problem` is what to tell users when they can't
    (e.g. the model is missing); `ready` is False while the model is still loading, too."""

    ready: bool = True
    problem: UserError | None = None


@dataclass(frozen=True, slots=True)
class StyleInfo:
    name: str
    description: str
    subject: str


@dataclass(frozen=True, slots=True)
class StickerRecord:
    """A stored result that buttons refer to by `record_id`."""

    record_id: str
    platform: str
    user_id: str
    text: str
    prompt: str
    style: str
    seed: int
    count: int
    emoji: str
    sticker_hashes: tuple[str, ...]


class StickerServiceAPI(Protocol):
    """What adapters may call. Implemented by `bot.service.StickerService`."""

    async def handle(
        self, request: StickerRequest, on_position: PositionCallback | None = None
    ) -> StickerReply: ...

    def styles(self) -> Sequence[StyleInfo]: ...

    def expression_for(self, emoji: str) -> str | None:
        """The expression for a reaction emoji, or None when it is not in the table (ignore quietly)."""
        ...

    async def default_style(self, scope: Scope) -> str: ...

    async def set_default_style(self, scope: Scope, style: str, *, is_admin: bool) -> str:
        """Set the default style; raises `ServiceError` (FORBIDDEN, UNKNOWN_STYLE). Returns a confirmation."""
        ...

    async def get_option(self, scope: Scope, key: str, default: str | None = None) -> str | None: ...

    async def set_option(self, scope: Scope, key: str, value: str, *, is_admin: bool) -> None: ...

    async def record(self, record_id: str) -> StickerRecord | None: ...

    async def sticker_file(self, sha256: str) -> bytes | None:
        """A stored sticker's bytes by content hash (for packs, web history, re-sending)."""
        ...

    def health(self) -> ServiceHealth:
        """Optional: whether stickers can be made now. Services without it count as healthy, so
        adapters call it as `getattr(service, "health", None)`."""
        return ServiceHealth()


class PlatformUnreachable(ConnectionError):
    """Raised by `Adapter.start()` when the platform can't be reached right now (network, DNS, its
    5xx, a timeout). The app logs one line and retries with backoff; the other platforms keep running."""


class Adapter(Protocol):
    """A running chat platform connection. Each adapter package exposes
    `create_adapter(config_section, service, app_config) -> Adapter`; the composition root
    (`bot.app`) imports adapter packages by name, so `bot/` never imports a chat library."""

    name: str

    async def start(self) -> None:
        """Connect and begin serving; returns once serving has started. Raises `PlatformUnreachable`
        when the platform can't be reached (then it may be called again later)."""
        ...

    async def stop(self) -> None:
        """Stop taking new events, let in-flight replies finish (bounded), disconnect."""
        ...
