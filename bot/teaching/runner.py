"""Training in a subprocess (`python -m generator.training.subject_worker`), progress as JSON lines.

A crash, an out-of-memory kill or a stuck training can't take the bot down: the bot reads the
child's stdout line by line and kills the child when the job is cancelled or the bot stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bot.teaching.errors import TeachError

log = logging.getLogger(__name__)

Progress = Callable[[int, int, float], Awaitable[None]]  # (step, steps, seconds per step)


@dataclass(frozen=True)
class TrainSpec:
    """What the worker needs; mirrors `generator.training.subject_worker.SubjectJob`."""

    photos: str
    run_dir: str
    lora_path: str
    token: str
    model: dict[str, Any]
    steps: int
    rank: int
    learning_rate: float
    resolution: int
    checkpoint_every: int
    seed: int = 0
    preview_path: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainOutput:
    lora: str
    preview: str | None
    loss_before: float
    loss_after: float


class Trainer(Protocol):
    async def train(self, spec: TrainSpec, progress: Progress) -> TrainOutput: ...


class SubprocessTrainer:
    """Runs each training as `python -m generator.training.subject_worker JOB.json`."""

    def __init__(self, python: str | None = None, env: Mapping[str, str] | None = None) -> None:
        self.python = python or sys.executable
        self.env = dict(env) if env is not None else None

    async def train(self, spec: TrainSpec, progress: Progress) -> TrainOutput:
        job_file = await asyncio.to_thread(_write_job, spec)
        child = await asyncio.create_subprocess_exec(
            self.python,
            "-m",
            "generator.training.subject_worker",
            str(job_file),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env,
        )
        errors: deque[str] = deque(maxlen=20)
        drain = asyncio.create_task(_collect(child.stderr, errors))
        final: dict[str, Any] | None = None
        try:
            assert child.stdout is not None
            async for raw in child.stdout:
                event = _parse(raw)
                if event is None:
                    continue
                kind = event.get("event")
                if kind == "step":
                    await progress(int(event["step"]), int(event["steps"]), float(event["s_per_step"]))
                elif kind in ("done", "error"):
                    final = event
            code = await child.wait()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                child.kill()
            await child.wait()
            raise
        finally:
            await drain
        if final is not None and final.get("event") == "error":
            raise TeachError(str(final.get("message") or "Training failed."))
        if code != 0 or final is None:
            log.error("teach worker exited with %s: %s", code, " | ".join(errors))
            raise TeachError("Training stopped unexpectedly.")
        return TrainOutput(
            lora=str(final["lora"]),
            preview=final.get("preview"),
            loss_before=float(final.get("loss_before", 0.0)),
            loss_after=float(final.get("loss_after", 0.0)),
        )


def _write_job(spec: TrainSpec) -> Path:
    run_dir = Path(spec.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    job_file = run_dir / "job.json"
    job_file.write_text(json.dumps(asdict(spec)), encoding="utf-8")
    return job_file


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(raw.decode("utf-8", "replace"))
    except ValueError:
        return None  # a library printing to stdout: not ours
    return event if isinstance(event, dict) else None


async def _collect(stream: asyncio.StreamReader | None, tail: deque[str]) -> None:
    if stream is None:
        return
    async for line in stream:
        tail.append(line.decode("utf-8", "replace").rstrip()[:300])
