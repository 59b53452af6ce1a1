from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.config import LoggingConfig
from bot.logs import configure_logging, request_context


@pytest.fixture
def capture() -> Iterator[tuple[io.StringIO, LoggingConfig]]:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    yield stream, LoggingConfig()
    root.setLevel(level)
    for handler in list(root.handlers):
        if getattr(handler, "_stickerbot", False):
            root.removeHandler(handler)


def test_text_lines_carry_the_request_id(capture: tuple[io.StringIO, LoggingConfig]) -> None:
    stream, cfg = capture
    configure_logging(cfg, stream=stream)
    log = logging.getLogger("bot.test")
    with request_context("abc123"):
        log.info("making a sticker")
    log.info("idle")
    first, second = stream.getvalue().splitlines()
    assert "INFO bot.test [abc123] making a sticker" in first
    assert "[-] idle" in second


def test_json_lines(capture: tuple[io.StringIO, LoggingConfig]) -> None:
    stream, _ = capture
    configure_logging(LoggingConfig(level="DEBUG", json=True), stream=stream)
    with request_context("r-9"):
        logging.getLogger("bot.test").debug("queued %d", 3, extra={"platform": "discord"})
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("bot.test").exception("failed")
    queued, failed = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (
        queued["request_id"] == "r-9" and queued["message"] == "queued 3" and queued["platform"] == "discord"
    )
    assert queued["level"] == "DEBUG" and queued["time"].endswith("Z")
    assert failed["level"] == "ERROR" and "ValueError: boom" in failed["exception"]


async def test_request_id_follows_tasks(capture: tuple[io.StringIO, LoggingConfig]) -> None:
    import asyncio

    stream, cfg = capture
    configure_logging(cfg, stream=stream)

    async def child() -> None:
        logging.getLogger("bot.test").warning("from a task")

    with request_context("parent-id"):
        await asyncio.create_task(child())
    assert "[parent-id] from a task" in stream.getvalue()


def test_configuring_twice_keeps_one_handler(capture: tuple[io.StringIO, LoggingConfig]) -> None:
    stream, cfg = capture
    configure_logging(cfg, stream=stream)
    configure_logging(cfg, stream=stream)
    logging.getLogger("bot.test").warning("once")
    assert stream.getvalue().count("once") == 1
