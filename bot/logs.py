"""Structured logging: every record carries the current request id; secrets are masked.

`configure_logging(cfg.logging, secrets=[...])` installs one handler on the root logger, as
plain text (`time level logger [request] message`) or one JSON object per line.
`request_context(request_id)` sets the id for everything logged inside it (including tasks it
starts, through contextvars).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

from bot.config import LoggingConfig

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "request_id"}


@contextlib.contextmanager
def request_context(request_id: str) -> Iterator[None]:
    token = request_id_var.set(request_id)
    try:
        yield
    finally:
        request_id_var.reset(token)


def _install_record_factory() -> None:
    """Stamp every log record with the request id when it is created (idempotent)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_stickerbot", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = request_id_var.get()
        return record

    factory._stickerbot = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


_install_record_factory()


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class SecretMaskFilter(logging.Filter):
    """Replaces any configured secret (bot tokens, access tokens) in a record's text with ***."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        masked = message
        for secret in self.secrets:
            masked = masked.replace(secret, "***")
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            for secret in self.secrets:
                record.exc_text = record.exc_text.replace(secret, "***")
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                data[key] = value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
        if record.exc_info:
            data["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


class _DropMessages(logging.Filter):
    """Drops records whose message starts with one of `prefixes`."""

    def __init__(self, *prefixes: str) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefixes)


_HUB_FALLBACK = _DropMessages("Couldn't connect to the Hub")


def quiet_libraries(*, progress_bars: bool = False) -> None:
    """Silence library chatter that says nothing an operator can act on (idempotent).

    - progress bars of model loading ("Loading pipeline components", "Loading weights"), unless
      `progress_bars`: through tqdm's and the hub's environment switches, which only take effect
      when set before those libraries are imported (our commands import them lazily) and which
      an operator's own setting overrides;
    - transformers: "requires torchvision; falling back to …Pil" (we never use torchvision);
    - diffusers: the `torch_dtype` → `dtype` FutureWarning (a rename inside the library's API);
    - diffusers: "Couldn't connect to the Hub … will try the local cache" (offline machines;
      when the cache lacks the model, our own `ModelMissing` message says what to do).
    """
    if not progress_bars:
        os.environ.setdefault("TQDM_DISABLE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    logging.getLogger("transformers.utils.import_utils").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="`torch_dtype` is deprecated", category=FutureWarning)
    hub = logging.getLogger("diffusers.pipelines.pipeline_utils")
    if _HUB_FALLBACK not in hub.filters:
        hub.addFilter(_HUB_FALLBACK)


class _BelowError(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.ERROR


def configure_cli_logging(verbose: bool, stream: Any = None) -> logging.Handler:
    """Logging for one-shot commands (`generate`, `styles …`, `cutout`).

    Quiet by default: warnings only, as `warning: …`, and no errors, because every error ends the
    command with one `stickerbot: …` line. `verbose` shows INFO and up in the full format."""
    quiet_libraries(progress_bars=verbose)
    handler = _install(stream)
    if verbose:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
        logging.getLogger().setLevel(logging.INFO)
    else:
        handler.addFilter(_BelowError())
        handler.setFormatter(logging.Formatter("warning: %(message)s"))
        logging.getLogger().setLevel(logging.WARNING)
    return handler


def _install(stream: Any) -> logging.Handler:
    """Replace an earlier stickerbot handler on the root logger with a fresh one."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_stickerbot", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._stickerbot = True  # type: ignore[attr-defined]
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    return handler


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def configure_logging(cfg: LoggingConfig, secrets: Iterable[str] = (), stream: Any = None) -> logging.Handler:
    """Install the stickerbot handler on the root logger (replacing an earlier one)."""
    quiet_libraries()
    root = logging.getLogger()
    handler = _install(stream)
    handler.addFilter(SecretMaskFilter(secrets))
    handler.setFormatter(JsonFormatter() if cfg.json else logging.Formatter(TEXT_FORMAT))
    root.setLevel(cfg.level.upper())
    for noisy in ("httpx", "httpcore", "aiohttp.access", "discord.gateway"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    return handler


class Throttled:
    """One WARNING line per kind of failure and interval, without a traceback.

    For failures that repeat on every request while a dependency is down (a full disk, a database
    that refuses writes): the log names the failure once per `every_s` and how often it recurred."""

    def __init__(self, logger: logging.Logger, every_s: float = 60.0) -> None:
        self._log = logger
        self._every_s = every_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, what: str, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last.get(what, float("-inf")) < self._every_s:
            self._suppressed[what] = self._suppressed.get(what, 0) + 1
            return
        again = self._suppressed.pop(what, 0)
        self._last[what] = now
        more = f" ({again} more since the last report)" if again else ""
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
        self._log.warning("%s: %s%s", what, detail, more)
