"""The body of the Ray task that teaches one subject on the cluster (`bot.teaching.ray_runner`).

It may run on another machine, so nothing travels by path: the photos come as bytes, training runs in
a temporary folder on the node (`subject_worker.run`, the code of the local subprocess) and the LoRA
and preview sheet go back as bytes. Progress is put on a `ray.util.queue.Queue` the bot drains.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any

from generator.api import GeneratorError


def train_on_node(job: dict[str, Any], photos: list[tuple[str, bytes]], queue: Any) -> dict[str, Any]:
    """The Ray task's body: photos to a temporary folder, train, return the files' bytes."""
    from generator.training.subject_worker import SubjectJob, run

    with tempfile.TemporaryDirectory(prefix="stickerbot-teach-") as tmp:
        root = Path(tmp)
        (root / "photos").mkdir()
        for index, (_name, data) in enumerate(photos):
            (root / "photos" / f"photo_{index:02d}.png").write_bytes(data)
        local = SubjectJob(
            **{
                **job,
                "photos": str(root / "photos"),
                "run_dir": str(root / "run"),
                "lora_path": str(root / "out" / "subject.safetensors"),
                "preview_path": str(root / "preview.png") if job.get("preview_path") else None,
            }
        )

        def report(event: str, **values: Any) -> None:
            with contextlib.suppress(Exception):  # progress is a courtesy; training goes on
                queue.put_nowait({"event": event, **values})

        try:
            outcome = run(local, report)
        except GeneratorError as exc:
            return {"error": exc.user_message}
        except MemoryError:
            return {"error": "Training ran out of memory."}
        preview = outcome.get("preview")
        return {
            "lora": Path(outcome["lora"]).read_bytes(),
            "preview": Path(preview).read_bytes() if preview else None,
            "loss_before": outcome["loss_before"],
            "loss_after": outcome["loss_after"],
        }
