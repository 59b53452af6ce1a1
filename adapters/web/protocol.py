"""The chat room's WebSocket protocol, version 1: small JSON objects, one per text frame.

Every frame carries `"v": 1` and a `"type"`. The client speaks first with `hello`; after
that it may send the other client types below. The server answers with `welcome` and then
streams room events. Anything structurally wrong (not JSON, wrong version, unknown type,
missing or mistyped fields, unknown fields) is a `ProtocolError`: the server closes that
one connection. Content problems (an empty or too-long message) are answered with a
`notice` instead, so a person typing never gets disconnected.

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
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

PROTOCOL_VERSION = 1

MAX_NAME_CHARS = 32
MAX_ROOM_CHARS = 32
MAX_TOKEN_CHARS = 200
MAX_ID_CHARS = 64

ROOM_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
SESSION_RE = re.compile(r"^[0-9a-f]{32}$")
RECORD_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

# WebSocket close codes (4000-4999 are free for applications).
CLOSE_PROTOCOL = 4400  # malformed frame / protocol violation
CLOSE_UNAUTHORIZED = 4401  # missing or wrong room access token
CLOSE_BAD_HELLO = 4422  # unusable name or room
CLOSE_RATE_LIMIT = 4429  # kept flooding after being told to slow down
CLOSE_GOING_AWAY = 1001  # server shutting down


class ProtocolError(Exception):
    """A frame that breaks the protocol; the connection that sent it is closed."""


@dataclass(frozen=True, slots=True)
class ClientFrame:
    type: str
    fields: dict[str, Any]

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)


# type -> {field: (python type, required)}; strings are length-checked against `string_limit`.
_SCHEMAS: dict[str, dict[str, tuple[type, bool]]] = {
    "hello": {
        "name": (str, True),
        "room": (str, True),
        "session": (str, False),
        "token": (str, False),
        "last_id": (int, False),
    },
    "chat": {"text": (str, True)},
    "sticker": {"prompt": (str, True), "style": (str, False)},
    "reroll": {"record_id": (str, True)},
    "more": {"record_id": (str, True)},
    "pick": {"record_id": (str, True), "sha256": (str, True)},
    "react": {"message_id": (int, True), "emoji": (str, True)},
    "set_style": {"style": (str, True)},
    "resend": {"sha256": (str, True)},
    "animate": {"record_id": (str, True), "sha256": (str, True)},
}

CLIENT_TYPES = frozenset(_SCHEMAS)


def parse_client_frame(raw: str, *, max_text_chars: int) -> ClientFrame:
    """Decode and validate one client frame. Raises `ProtocolError` with a short reason.

    Text fields may be up to `max_text_chars` long here; the handlers apply the finer,
    user-facing limits (and answer with a notice rather than a disconnect).
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
    if not isinstance(kind, str) or kind not in _SCHEMAS:
        raise ProtocolError("unknown frame type")
    schema = _SCHEMAS[kind]
    extra = set(data) - set(schema) - {"v", "type"}
    if extra:
        raise ProtocolError(f"unexpected field(s) in {kind}: {', '.join(sorted(extra))[:80]}")
    fields: dict[str, Any] = {}
    for name, (expected, required) in schema.items():
        value = data.get(name)
        if value is None:
            if required:
                raise ProtocolError(f"{kind}.{name} is required")
            continue
        # bool is an int subclass in Python; a JSON true is never a valid id.
        if not isinstance(value, expected) or isinstance(value, bool):
            raise ProtocolError(f"{kind}.{name} must be a {expected.__name__}")
        if isinstance(value, str) and len(value) > max_text_chars:
            raise ProtocolError(f"{kind}.{name} is too long")
        if isinstance(value, int) and not 0 <= value < 2**53:
            raise ProtocolError(f"{kind}.{name} is out of range")
        fields[name] = value
    return ClientFrame(kind, fields)


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
