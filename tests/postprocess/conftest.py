"""Fixtures for the post-processing tests."""

from __future__ import annotations

import io

import pytest
from PIL import Image


@pytest.fixture
def png_bytes():
    def encode(image: Image.Image, fmt: str = "PNG", **params) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, fmt, **params)
        return buffer.getvalue()

    return encode
