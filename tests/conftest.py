"""Shared fixtures. Area-specific fixtures live in tests/<area>/conftest.py."""

from __future__ import annotations

import pytest

from tests.fakes.fake_engine import FakeEngine


@pytest.fixture
def fake_engine() -> FakeEngine:
    return FakeEngine()
