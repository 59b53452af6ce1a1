from __future__ import annotations

import io
import json
import logging
import os
import warnings
from collections.abc import Iterator

import pytest

from bot.config import LoggingConfig
from bot.logs import configure_cli_logging, configure_logging, quiet_libraries, request_context


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


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_library_chatter_is_silenced(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS"):
        monkeypatch.delenv(name, raising=False)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        quiet_libraries()
        warnings.warn("`torch_dtype` is deprecated and will be removed", FutureWarning, stacklevel=1)
        warnings.warn("something else is deprecated", FutureWarning, stacklevel=1)
    assert [str(w.message) for w in seen] == ["something else is deprecated"]
    assert os.environ["TQDM_DISABLE"] == "1" and os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"

    # Handlers on the libraries' own loggers: diffusers/transformers may stop propagation once imported.
    for name, said, kept in [
        (
            "diffusers.pipelines.pipeline_utils",
            "Couldn't connect to the Hub: offline.",
            "a component is missing",
        ),
        ("transformers.utils.import_utils", "`X` requires torchvision (not installed)", "a real error"),
    ]:
        logger, collect = logging.getLogger(name), _Collect()
        logger.addHandler(collect)
        try:
            logger.warning(said)
            (logger.error if kept == "a real error" else logger.warning)(kept)
        finally:
            logger.removeHandler(collect)
        assert collect.messages == [kept]


def test_an_operators_progress_bar_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TQDM_DISABLE", "")
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    quiet_libraries(progress_bars=True)
    assert os.environ["TQDM_DISABLE"] == "" and "HF_HUB_DISABLE_PROGRESS_BARS" not in os.environ


def test_one_shot_commands_show_warnings_but_leave_errors_to_the_final_line(
    capture: tuple[io.StringIO, LoggingConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TQDM_DISABLE", "0")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "0")
    stream, _cfg = capture
    configure_cli_logging(verbose=False, stream=stream)
    log = logging.getLogger("generator.engine")
    log.info("loading")
    log.warning("style redmond is unavailable")
    log.error("the sticker model is not available")
    assert stream.getvalue() == "warning: style redmond is unavailable\n"


def test_verbose_one_shot_commands_show_everything(
    capture: tuple[io.StringIO, LoggingConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TQDM_DISABLE", "0")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "0")
    stream, _cfg = capture
    configure_cli_logging(verbose=True, stream=stream)
    log = logging.getLogger("generator.engine")
    log.info("loading")
    log.error("the sticker model is not available")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert "INFO generator.engine" in lines[0] and lines[0].endswith("loading")
    assert "ERROR generator.engine" in lines[1]


def test_throttled_warns_once_per_interval_without_traceback(caplog) -> None:
    import logging

    from bot.logs import Throttled

    logger = logging.getLogger("test.throttled")
    throttled = Throttled(logger, every_s=3600)
    with caplog.at_level("WARNING", logger="test.throttled"):
        for _ in range(20):
            throttled.warning("could not store the sticker record", OSError(28, "No space left on device"))
        throttled.warning("cache lookup failed", OSError("database or disk is full"))
    records = [r for r in caplog.records if r.name == "test.throttled"]
    assert [r.getMessage() for r in records] == [
        "could not store the sticker record: [Errno 28] No space left on device",
        "cache lookup failed: database or disk is full",
    ]
    assert all(r.exc_info is None for r in records)
    throttled._every_s = 0  # the next report says how many were folded into the first
    throttled.warning("could not store the sticker record", OSError("again"))
    assert caplog.records[-1].getMessage().endswith("(19 more since the last report)")
