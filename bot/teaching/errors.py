"""The one error of teaching: a short sentence a chat user can read as it is."""

from __future__ import annotations


class TeachError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
