"""Deep-link start parameters that carry an inline query into the private chat.

`t.me/<bot>?start=<param>` allows 1–64 characters of A–Z, a–z, 0–9, `_` and `-`: exactly the
base64url alphabet. Short queries travel inside the parameter (`q` + base64url of the UTF-8 text);
longer ones get a random key (`k` + key) into a bounded in-memory table.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections import OrderedDict

MAX_PARAM = 64
_MAX_KEYS = 2048


class StartLinks:
    def __init__(self) -> None:
        self._long: OrderedDict[str, str] = OrderedDict()

    def encode(self, query: str) -> str:
        packed = "q" + base64.urlsafe_b64encode(query.encode()).decode().rstrip("=")
        if len(packed) <= MAX_PARAM:
            return packed
        key = secrets.token_urlsafe(12)
        self._long[key] = query
        while len(self._long) > _MAX_KEYS:
            self._long.popitem(last=False)
        return "k" + key

    def decode(self, param: str) -> str | None:
        """The query a parameter stands for, or None (not ours, expired, or malformed)."""
        if param.startswith("q") and len(param) > 1:
            body = param[1:]
            try:
                return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
            except (binascii.Error, UnicodeDecodeError, ValueError):
                return None
        if param.startswith("k"):
            return self._long.get(param[1:])
        return None
