"""`RayTrainer`: subject training as a Ray task on the sticker cluster (`engine.backend: ray`).

The task (`generator.training.ray_subject.train_on_node`) may run on another machine, so the photos
travel with it as bytes and the LoRA and preview sheet come back as bytes, written here atomically
where the local worker would have written them. Progress comes through a `ray.util.queue.Queue` (a
small actor) drained while waiting. Cancelling (forget, shutdown) cancels the task. Checkpoints stay
on the worker's node: a job resumed after a bot restart trains again from the start on the cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bot.teaching.errors import TeachError
from bot.teaching.runner import Progress, TrainOutput, TrainSpec

log = logging.getLogger(__name__)

RAY_MISSING = "Ray is not installed: pip install 'stickerbot[ray]'"
POLL_S = 0.5


class RayTrainer:
    """A `bot.teaching.runner.Trainer` that runs each training as a Ray task."""

    def __init__(self, address: str | None = None) -> None:
        self.address = address

    def _connect(self) -> Any:
        import ray

        from generator.serve.client import _check_reachable

        if not ray.is_initialized():
            _check_reachable(self.address)  # one line at once, not minutes of Ray retrying
            if self.address is None:
                ray.init(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
            else:
                ray.init(address=self.address, logging_level=logging.WARNING, log_to_driver=False)
        return ray

    async def train(self, spec: TrainSpec, progress: Progress) -> TrainOutput:
        try:
            ray = await asyncio.to_thread(self._connect)
            from ray.util.queue import Queue

            from generator.training.ray_subject import train_on_node
        except ImportError:
            raise TeachError(RAY_MISSING) from None
        except Exception as exc:  # the cluster is down: this one job fails, the bot goes on
            log.warning("teach: the Ray cluster is unavailable: %s", exc)
            raise TeachError(
                "The training cluster is unavailable right now; please try again later."
            ) from None
        photos = await asyncio.to_thread(_read_photos, Path(spec.photos))
        job = asdict(spec)
        gpu = str(spec.model.get("device", "")).startswith("cuda")
        queue = Queue(actor_options={"num_cpus": 0})
        task = ray.remote(train_on_node).options(num_cpus=1, num_gpus=1 if gpu else 0, max_retries=0)
        ref = task.remote(job, photos, queue)
        try:
            while True:
                done, _ = await asyncio.to_thread(ray.wait, [ref], timeout=POLL_S)
                for event in await asyncio.to_thread(_drain, queue):
                    if event.get("event") == "step":
                        await progress(int(event["step"]), int(event["steps"]), float(event["s_per_step"]))
                if done:
                    break
            result = await asyncio.to_thread(ray.get, ref)
        except BaseException as exc:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
            if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt | SystemExit):
                raise
            log.error("teach: the Ray training task failed: %s", exc)
            raise TeachError("Training stopped unexpectedly.") from None
        finally:
            with contextlib.suppress(Exception):
                ray.kill(queue.actor)
        if result.get("error"):
            raise TeachError(str(result["error"]))
        await asyncio.to_thread(_write_atomically, Path(spec.lora_path), result["lora"])
        preview = None
        if spec.preview_path and result.get("preview"):
            await asyncio.to_thread(_write_atomically, Path(spec.preview_path), result["preview"])
            preview = spec.preview_path
        return TrainOutput(spec.lora_path, preview, result["loss_before"], result["loss_after"])


def _read_photos(folder: Path) -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in sorted(folder.glob("*.png"))]


def _drain(queue: Any) -> list[dict[str, Any]]:
    size = queue.qsize()
    return list(queue.get_nowait_batch(size)) if size else []


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, target)
