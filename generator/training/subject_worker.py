"""`python -m generator.training.subject_worker JOB.json`: teach one subject, out of the bot's process.

The bot's teach queue starts this per job, so a crash or an out-of-memory kill in training cannot
take the bot down. It reads the job (photos folder, run folder, settings, model), trains a UNet LoRA
with the studio's `LoraTrainer` (checkpoints in the run folder: a restarted job resumes from the
newest one), writes the LoRA atomically (a temporary file renamed into place, so nothing
half-written is ever used), optionally renders a preview sheet, and reports on stdout as JSON lines:

    {"event": "started", "steps": 400, "start": 0, "device": "cpu"}
    {"event": "step", "step": 12, "steps": 400, "loss": 0.41, "s_per_step": 1.9}
    {"event": "done", "lora": "...", "preview": "...", "loss_before": 0.5, "loss_after": 0.3}
    {"event": "error", "message": "one short sentence"}
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PARTIAL = "partial-lora.safetensors"


@dataclass
class SubjectJob:
    photos: str
    run_dir: str
    lora_path: str
    token: str  # e.g. "sks dog": the words bound to the subject
    model: dict[str, Any]
    steps: int = 400
    rank: int = 8
    learning_rate: float = 1e-4
    resolution: int = 512
    checkpoint_every: int = 50
    seed: int = 0
    preview_path: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def emit(event: str, **values: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **values}) + "\n")
    sys.stdout.flush()


def run(job: SubjectJob, report: Callable[..., None] = emit) -> dict[str, Any]:
    """Train; `report(event, **values)` gets "started" and "step" (stdout JSON lines by default)."""
    from generator.options import ModelConfig
    from generator.training.checkpoint import latest_checkpoint
    from generator.training.data import load_dataset
    from generator.training.export import save_lora_file
    from generator.training.lora_train import LoraTrainer, TrainSettings
    from generator.training.objective import encode_examples
    from generator.training.style_training import load_training_pipeline

    model = ModelConfig.model_validate({**job.model, "warmup": False})
    run_dir = Path(job.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    photos = load_dataset(job.photos, resolution=job.resolution, fit="crop", min_side=8, max_images=100)
    settings = TrainSettings(
        steps=job.steps,
        rank=job.rank,
        learning_rate=job.learning_rate,
        seed=job.seed,
        checkpoint_every=job.checkpoint_every,
    )
    pipe = load_training_pipeline(model, "auto")
    pipe.set_progress_bar_config(disable=True)
    prompt = f"a photo of {job.token}"
    data = encode_examples(pipe, [p.image for p in photos], [prompt] * len(photos))
    resume = latest_checkpoint(run_dir) is not None
    trainer = LoraTrainer(pipe, settings)
    report("started", steps=job.steps, resume=resume, device=str(trainer.device), photos=len(photos))
    began = time.perf_counter()
    first: list[int] = []

    def on_step(step: int, loss: float) -> None:
        first.append(step)
        rate = (time.perf_counter() - began) / len(first)
        report("step", step=step, steps=job.steps, loss=round(loss, 5), s_per_step=round(rate, 4))

    info = {"name": run_dir.name, "model": model.path, "resolution": job.resolution, "kind": "subject"}
    result, before, after = trainer.fit(
        data, run_dir, judge=data, resume=resume, run_info=info, progress=False, on_step=on_step
    )
    target = Path(job.lora_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = save_lora_file(result.lora, target.parent, PARTIAL)
    os.replace(partial, target)
    preview = render_preview_sheet(job, pipe, model, target) if job.preview_path else None
    return {
        "lora": str(target),
        "preview": preview,
        "loss_before": round(before, 5),
        "loss_after": round(after, 5),
        "trained_steps": len(first),
    }


def render_preview_sheet(job: SubjectJob, pipe: Any, model: Any, lora: Path) -> str | None:
    """The subject in the eight expressions (the studio's contact sheet); a failure only loses the sheet."""
    from generator.pipeline import StickerPipeline
    from generator.styles import LoraRef, StyleRegistry, StyleSpec
    from generator.training.preview import SheetLayout, render_preview, save_sheet

    try:
        spec = StyleSpec(
            name="subject",
            description=job.token,
            triggers=(),
            template="{expression}, {subject}, sticker",
            subject=job.token,
            loras=(LoraRef(source=str(lora), local_path=lora),),
        )
        sticker_pipe = StickerPipeline.from_pipeline(
            pipe, StyleRegistry([spec]), model.model_copy(update={"compile": "off"}), hot_styles=0
        )
        size = min(job.resolution, 512)
        sheet = render_preview(sticker_pipe, spec, size=size, seed=job.seed, layout=SheetLayout(cell=128))
        partial = Path(job.preview_path or "").with_suffix(".partial.png")
        save_sheet(sheet, partial)
        os.replace(partial, job.preview_path or "")
        return job.preview_path
    except Exception as exc:  # the LoRA is what matters; the sheet is a courtesy
        logging.getLogger(__name__).warning("preview sheet failed: %s", exc)
        return None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if len(args) != 1:
        emit("error", message="usage: python -m generator.training.subject_worker JOB.json")
        return 2
    try:
        job = SubjectJob(**json.loads(Path(args[0]).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        emit("error", message=f"The training job file is unreadable ({type(exc).__name__}).")
        return 2
    from generator.api import GeneratorError

    try:
        outcome = run(job)
    except GeneratorError as exc:
        emit("error", message=exc.user_message)
        return 1
    except MemoryError:
        emit("error", message="Training ran out of memory.")
        return 1
    emit("done", **outcome)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
