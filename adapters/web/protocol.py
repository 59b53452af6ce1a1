"""The chat room's WebSocket protocol, version 1: small JSON objects, one per text frame.

Every frame carries `"v": 1` and a `"type"`. The client speaks first with `hello`; after
that it may send the other client types below. The server answers with `welcome` and then
streams room events. Anything structurally wrong (not JSON, wrong version, unknown type,
missing or mistyped fields, unknown fields) is a `ProtocolError`: the server closes that
one connection with an `error` frame first. Content problems (an empty or too-long message)
are answered with a `notice` instead, so a person typing never gets disconnected. Client
frames are pydantic models (`ClientFrame`); the first validation problem becomes the
`ProtocolError`'s one-line reason ("chat.text must be a str", "hello.name is required").

Client → server:
  hello      name, room, session?, token?, last_id?
  chat       text
  sticker    prompt, style?
  reroll     record_id
  more       record_id                     ("4 more": candidates go to the requester only)
  pick       record_id, sha256             (post one of the offered candidates)
  react      message_id, emoji
  set_style  style
  resend     sha256                        (re-post a sticker already seen in the room)
  animate    record_id, sha256             (🎬: that posted sticker, brought to life)

Server → client:
  welcome, message, pending, pending_end, candidates, presence, style, notice, error
  presence carries `count` and one change: `joined` or `left` ({id, name}); the welcome has the list.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

PROTOCOL_VERSION = 1

MAX_NAME_CHARS = 32
MAX_ROOM_CHARS = 32

ROOM_RE = re.compile(rf"^[a-z0-9][a-z0-9_-]{{0,{MAX_ROOM_CHARS - 1}}}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
SESSION_RE = re.compile(r"^[0-9a-f]{32}$")
RECORD_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

# WebSocket close codes (4000-4999 are free for applications).
CLOSE_PROTOCOL = 4400  # malformed frame / protocol violation
CLOSE_UNAUTHORIZED = 4401  # missing or wrong room access token
CLOSE_BAD_HELLO = 4422  # unusable name or room
CLOSE_REFUSED = 4429  # over a limit: kept flooding, or too many connections/sessions/rooms
CLOSE_GOING_AWAY = 1001  # server shutting down

JsonId = Annotated[int, Field(ge=0, lt=2**53)]


class ProtocolError(Exception):
    """A frame that breaks the protocol; the connection that sent it is closed."""


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    v: Literal[1]


class Hello(_Frame):
    type: Literal["hello"]
    name: str
    room: str
    session: str | None = None
    token: str | None = None
    last_id: JsonId | None = None


class Chat(_Frame):
    type: Literal["chat"]
    text: str


class AskSticker(_Frame):
    type: Literal["sticker"]
    prompt: str
    style: str | None = None


class Reroll(_Frame):
    type: Literal["reroll", "more"]  # "more": 4 candidates, to the requester only
    record_id: str


class Pick(_Frame):
    type: Literal["pick"]
    record_id: str
    sha256: str


class React(_Frame):
    type: Literal["react"]
    message_id: JsonId
    emoji: str


class SetStyle(_Frame):
    type: Literal["set_style"]
    style: str


class Resend(_Frame):
    type: Literal["resend"]
    sha256: str


class Animate(_Frame):
    type: Literal["animate"]
    record_id: str
    sha256: str


ClientFrame = Annotated[
    Hello | Chat | AskSticker | Reroll | Pick | React | SetStyle | Resend | Animate,
    Field(discriminator="type"),
]
_FRAMES: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)
_TYPES = frozenset(
    {"hello", "chat", "sticker", "reroll", "more", "pick", "react", "set_style", "resend", "animate"}
)
_TYPE_NAMES = {"string_type": "str", "int_type": "int"}


def parse_client_frame(raw: str) -> ClientFrame:
    """Decode and validate one client frame. Raises `ProtocolError` with a short reason.

    Text fields are bounded by the frame size only; the handlers apply the finer, user-facing
    limits (and answer with a notice rather than a disconnect).
    """
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError("frame is not valid JSON") from exc
    if not isinstance(data, dict):
        raise ProtocolError("frame must be a JSON object")
    if data.get("v") != PROTOCOL_VERSION or isinstance(data.get("v"), bool):
        raise ProtocolError(f"unsupported protocol version (expected v={PROTOCOL_VERSION})")
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in _TYPES:
        raise ProtocolError("unknown frame type")
    try:
        return _FRAMES.validate_python(data)
    except ValidationError as exc:
        raise ProtocolError(_reason(kind, exc)) from None


def _reason(kind: str, exc: ValidationError) -> str:
    """The first problem in one line, naming the field as `type.field`."""
    errors = exc.errors(include_url=False, include_input=False)
    extra = sorted(str(e["loc"][-1]) for e in errors if e["type"] == "extra_forbidden")
    if extra:
        return f"unexpected field(s) in {kind}: {', '.join(extra)[:80]}"
    error = errors[0]
    field = f"{kind}.{error['loc'][-1]}"
    match error["type"]:
        case "missing":
            return f"{field} is required"
        case "greater_than_equal" | "less_than":
            return f"{field} is out of range"
        case other if other in _TYPE_NAMES:
            return f"{field} must be a {_TYPE_NAMES[other]}"
        case _:
            return f"{field} is invalid"


def server_frame(kind: str, **fields: Any) -> str:
    """Encode one server frame."""
    return json.dumps({"v": PROTOCOL_VERSION, "type": kind, **fields}, ensure_ascii=False)


# --------------------------------------------------------------------------- value checks
_DROP_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_JOINERS = "\u200c\u200d"  # ZWNJ / ZWJ: needed by emoji sequences (🧑‍💻) and several scripts


def clean_text(text: str, *, keep_joiners: bool = True) -> str:
    """NFC-normalise and drop control and format characters (bidi overrides, zero-width
    spaces…), keeping newlines, tabs and, unless told otherwise, the zero-width joiners."""
    keep = "\n\t" + (_JOINERS if keep_joiners else "")
    text = unicodedata.normalize("NFC", text)
    return "".join(
        ch for ch in text if ch in keep or unicodedata.category(ch) not in _DROP_CATEGORIES
    ).strip()


def clean_name(name: str) -> str | None:
    """A display name: one line, whitespace collapsed, no invisible characters, 1..32 characters."""
    name = " ".join(clean_text(name, keep_joiners=False).split())
    if not name or len(name) > MAX_NAME_CHARS:
        return None
    return name


def clean_room(room: str) -> str | None:
    room = room.strip().lower()
    return room if ROOM_RE.fullmatch(room) else None


def is_sha256(value: str) -> bool:
    return SHA256_RE.fullmatch(value) is not None


def is_record_id(value: str) -> bool:
    return RECORD_ID_RE.fullmatch(value) is not None
