"""One end-to-end deadline per request (issue 13, item 3), and an asker who is gone costs nothing.

`limits.request_deadline_s` counts from the moment the service gets the request: waiting for an
engine slot is included (before it, only `engine.timeout_s` bounded the time inside the engine, so a
request could wait in the fair-admission line for minutes). A request that is cancelled (a superseded
inline query, a closed socket) leaves the line at once and never reaches the engine.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot import messages
from bot.config import AppConfig, ConfigError, load_config
from bot.service import StickerService
from bot.types import ErrorKind, StickerRequest
from generator.api import GenerationRequest, GenerationResult, PositionCallback
from tests.fakes.fake_engine import FakeEngine
from tests.fakes.service_factory import GENEROUS_LIMITS, make_service


def req(text: str, server: str = "s1") -> StickerRequest:
    return StickerRequest(platform="web", user_id="u1", conversation_id="c1", server_id=server, text=text)


class GatedEngine(FakeEngine):
    """Holds every job until `gate` opens; `entered` lists the prompts that reached it."""

    def __init__(self) -> None:
        super().__init__(max_batch=1)
        self.gate = asyncio.Event()
        self.entered: list[str] = []

    async def generate(
        self, request: GenerationRequest, on_position: PositionCallback | None = None
    ) -> GenerationResult:
        self.entered.append(request.prompt)
        await self.gate.wait()
        return await super().generate(request, on_position)


async def one_slot_service(tmp_path: Path, engine: FakeEngine, deadline_s: float) -> StickerService:
    limits = GENEROUS_LIMITS.model_copy(update={"max_in_flight": 1, "request_deadline_s": deadline_s})
    return await make_service(tmp_path, engine, AppConfig(limits=limits))


async def wait_until(condition) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 (service state has no event to wait on)
            await asyncio.sleep(0.005)


async def test_waiting_in_line_past_the_deadline_gets_a_clear_answer(tmp_path: Path) -> None:
    """Before the fix the request waited in line for as long as the engine stayed busy."""
    engine = FakeEngine()
    service = await one_slot_service(tmp_path, engine, deadline_s=0.5)
    try:
        async with service.admission.slot("web:elsewhere"):  # the only engine slot is taken
            async with asyncio.timeout(5):  # the bound a user would wait, at most
                late = await service.handle(req("waiting otter"))
            assert late.error is not None
            assert late.error.kind is ErrorKind.TIMEOUT and late.error.message == messages.TOO_LONG
            assert service.admission.waiting == 0  # it left the line
        assert engine.ran == []  # and never reached the engine
        assert (await service.handle(req("next otter"))).ok
    finally:
        await service.close()


async def test_the_deadline_covers_time_inside_the_engine_too(tmp_path: Path) -> None:
    engine = FakeEngine(delay_s=5.0)
    service = await one_slot_service(tmp_path, engine, deadline_s=0.3)
    try:
        async with asyncio.timeout(3):
            reply = await service.handle(req("slow otter"))
        assert reply.error is not None and reply.error.kind is ErrorKind.TIMEOUT
        assert service.admission.in_flight == 0 and engine.queue_length() == 0
        text = service.metrics.render().decode()
        assert 'stickerbot_errors_total{kind="timeout"} 1.0' in text
    finally:
        await service.close()


async def test_requests_inside_the_deadline_are_untouched(tmp_path: Path) -> None:
    engine = FakeEngine(delay_s=0.05)
    service = await one_slot_service(tmp_path, engine, deadline_s=5.0)
    try:
        replies = await asyncio.gather(*(service.handle(req(f"otter {i}")) for i in range(4)))
        assert all(r.ok for r in replies)
    finally:
        await service.close()


async def test_a_cancelled_request_leaves_the_line_and_never_reaches_the_engine(tmp_path: Path) -> None:
    """What a superseded inline query or a closed socket does: cancel the task awaiting `handle`."""
    engine = GatedEngine()
    service = await one_slot_service(tmp_path, engine, deadline_s=60.0)
    try:
        busy = asyncio.create_task(service.handle(req("busy otter")))
        await wait_until(lambda: engine.entered == ["busy, otter, dm-sticker"])
        gone = asyncio.create_task(service.handle(req("abandoned otter", server="s2")))
        await wait_until(lambda: service.admission.waiting == 1)
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone
        assert service.admission.waiting == 0 and service.admission.in_flight == 1
        assert service.active_requests == 1
        engine.gate.set()
        assert (await busy).ok
        assert service.admission.in_flight == 0
        after = await service.handle(req("next otter"))  # the slot is free again, not leaked
        assert after.ok
        assert "abandoned, otter, dm-sticker" not in engine.entered
    finally:
        engine.gate.set()
        await service.close()


def test_the_deadline_is_a_config_key_with_a_clear_refusal(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("limits:\n  request_deadline_s: 45\n", encoding="utf-8")
    assert load_config(path, env={}).limits.request_deadline_s == 45
    path.write_text("limits:\n  request_deadline_s: 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"limits\.request_deadline_s"):
        load_config(path, env={})
