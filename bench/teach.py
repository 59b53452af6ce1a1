"""Teach bench: training speed per teach on the tiny model (CPU), and the teach queue's fairness.

    OMP_NUM_THREADS=1 python -m bench.teach [--steps 20] [--skip-training]

1. Training: one real teach through the training subprocess (`SubprocessTrainer`, the path the bot
   uses) on the tiny random-weight SDXL model, 4 photos at 64 px: steps/s as the worker measures it,
   and wall time per teach (process start, model load, encoding, training, LoRA write, preview sheet).
2. Fairness: 10 teaches at once from 3 servers (6 + 3 + 1, one user each) through `TeachService`
   with real SQLite and photo checks and a fast stand-in trainer (20 ms per job), with
   `max_concurrent` 1 and 2: the order jobs start in, and where each server's first job lands.
3. `--full-size`: LoRA training steps on the full SDXL-Turbo architecture with random weights (speed does
   not depend on the weights' values) at 512 px, rank 8 — the settings a teach uses — in fp32 (what the
   worker picks on a CPU without native bf16) and bf16 autocast where the CPU has it: s/step, the
   projected training time of a default 400-step teach, and peak memory. Needs ~16 GB free.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bot.config import ModelConfig, TeachConfig
from bot.storage import open_database
from bot.teaching.runner import Progress, SubprocessTrainer, TrainOutput, TrainSpec
from bot.teaching.service import Teacher, TeachService


def _photos(folder: Path, count: int) -> None:
    from tests.teach.helpers import dog_photo

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"photo_{i}.jpg").write_bytes(dog_photo(i))


async def bench_training(root: Path, steps: int) -> None:
    from generator.tiny import save_tiny_pipeline

    model_dir = save_tiny_pipeline(root / "tiny")
    model = ModelConfig(path=str(model_dir), device="cpu", local_files_only=True, compile="off", warmup=False)
    _photos(root / "photos", 4)
    rates: list[float] = []

    async def progress(step: int, total: int, rate: float) -> None:
        rates.append(rate)

    for preview in (False, True):
        rates.clear()
        spec = TrainSpec(
            photos=str(root / "photos"),
            run_dir=str(root / f"run-{preview}"),
            lora_path=str(root / f"out-{preview}" / "dog.safetensors"),
            token="sks dog",
            model=model.model_dump(mode="json"),
            steps=steps,
            rank=4,
            learning_rate=1e-3,
            resolution=64,
            checkpoint_every=max(1, steps // 2),
            preview_path=str(root / "preview.png") if preview else None,
        )
        began = time.perf_counter()
        await SubprocessTrainer().train(spec, progress)
        wall = time.perf_counter() - began
        per_step = rates[-1]
        label = "with preview sheet" if preview else "LoRA only"
        print(
            f"tiny model, {steps} steps, 64 px, 4 photos ({label}): {1 / per_step:.1f} steps/s "
            f"({per_step * 1000:.0f} ms/step), wall {wall:.1f} s per teach "
            f"(training {per_step * steps:.1f} s, the rest start-up, model load, encoding and writing)"
        )


def bench_fullsize_training(steps: int, checkpointing: bool, only: str | None = None) -> None:
    """Time LoRA steps on the full architecture: fp32, then bf16 autocast where the CPU has it natively."""
    import gc

    import torch

    from bench.report import peak_rss_mb
    from generator.fullsize import build_fullsize_pipeline
    from generator.model import cpu_has_native_bf16
    from generator.training.lora_train import LoraTrainer, TrainSettings
    from generator.training.objective import EncodedExamples

    pipe = build_fullsize_pipeline("cpu", torch.float32)
    pipe.vae = pipe.text_encoder = pipe.text_encoder_2 = None  # training runs on cached encodings
    gc.collect()
    photos = 4
    generator = torch.Generator().manual_seed(0)
    data = EncodedExamples(
        latent_mean=torch.randn((photos, 4, 64, 64), generator=generator),
        latent_std=torch.full((photos, 4, 64, 64), 0.05),
        prompt_embeds=torch.randn((photos, 77, 2048), generator=generator),
        pooled_embeds=torch.randn((photos, 1280), generator=generator),
        weights=torch.ones(photos),
        resolution=512,
    )
    precisions = ["no", "bf16"] if cpu_has_native_bf16() else ["no"]
    if only is not None:
        precisions = ["no" if only == "fp32" else "bf16"]
    for precision in precisions:
        settings = TrainSettings(
            steps=steps, rank=8, precision=precision,  # type: ignore[arg-type]
            gradient_checkpointing="on" if checkpointing else "off",
        )  # fmt: skip
        trainer = LoraTrainer(pipe, settings)
        trainer.unet.train()
        trainer._step(data)  # warm-up: allocator, first-call dispatch
        began = time.perf_counter()
        for _ in range(steps):
            trainer._step(data)
        per_step = (time.perf_counter() - began) / steps
        trainer.remove_adapter()
        label = "fp32" if precision == "no" else "bf16 autocast"
        print(
            f"full-size architecture, 512 px, rank 8, {label}, gradient checkpointing "
            f"{'on' if checkpointing else 'off'}: {per_step:.1f} s/step ({1 / per_step:.3f} steps/s), "
            f"a 400-step teach ≈ {per_step * 400 / 3600:.1f} h of training; "
            f"peak RSS so far {peak_rss_mb() / 1024:.1f} GB"
        )


def _write(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"lora")


class QuickTrainer:
    """A stand-in trainer for the queue bench: 20 ms per job, then a small file."""

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0
        self.gate = asyncio.Event()  # opened once all ten teaches are in line: they contend

    async def train(self, spec: TrainSpec, progress: Progress) -> TrainOutput:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await self.gate.wait()
            await asyncio.sleep(0.02)
            await progress(spec.steps, spec.steps, 0.001)
        finally:
            self.running -= 1
        await asyncio.to_thread(_write, Path(spec.lora_path))
        return TrainOutput(spec.lora_path, None, 1.0, 0.5)


async def bench_fairness(root: Path, concurrent: int) -> None:
    from tests.teach.helpers import dog_photos

    db = await open_database(f"sqlite:///{root}/fair-{concurrent}.db")
    trainer = QuickTrainer()
    config = TeachConfig(
        enabled=True, data_dir=str(root / f"fair-{concurrent}"), steps=10, max_concurrent=concurrent
    )
    teaching = TeachService(config, ModelConfig(device="cpu"), db, trainer=trainer)
    await teaching.start()
    plan = ["A"] * 6 + ["B"] * 3 + ["C"]
    finished: dict[str, float] = {}
    began = time.perf_counter()
    server_of: dict[str, str] = {}
    for index, server in enumerate(plan):
        who = Teacher("bench", server, f"user{index}")

        def done(event: object, index: int = index) -> None:
            if getattr(event, "status", "") == "done":
                finished[str(index)] = time.perf_counter() - began

        accepted = await teaching.teach(who, "dog", dog_photos(4, start=10 * index), done)
        server_of[accepted.job_id] = server
    submitted = time.perf_counter() - began
    began = time.perf_counter()
    trainer.gate.set()
    while len(finished) < len(plan):  # noqa: ASYNC110 (polling the listeners' results)
        await asyncio.sleep(0.01)
    order = "".join(server_of[job] for _, job in teaching.queue.started)
    first = {s: order.index(s) + 1 for s in "ABC"}
    waits: dict[str, list[float]] = defaultdict(list)
    for index, server in enumerate(plan):
        waits[server].append(finished[str(index)])
    means = ", ".join(f"{s} {sum(v) / len(v) * 1000:.0f} ms" for s, v in sorted(waits.items()))
    print(
        f"fairness, 10 teaches (A 6, B 3, C 1), max_concurrent {concurrent}: start order {order}; "
        f"first start per server A #{first['A']}, B #{first['B']}, C #{first['C']}; "
        f"peak running {trainer.peak}; mean time from release to done {means}; "
        f"10 submissions took {submitted * 1000:.0f} ms"
    )
    await teaching.close()
    await db.close()


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-teach-") as tmp:
        root = Path(tmp)
        if not args.skip_training:
            await bench_training(root, args.steps)
        for concurrent in (1, 2):
            await bench_fairness(root, concurrent)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=20, help="training steps of the tiny teach (default 20)")
    parser.add_argument("--skip-training", action="store_true", help="only the queue fairness figures")
    parser.add_argument("--full-size", action="store_true", help="only the full-size training figure")
    parser.add_argument("--full-size-steps", type=int, default=2, help="timed full-size steps (default 2)")
    parser.add_argument("--precision", choices=("fp32", "bf16"), help="full size: only this precision")
    parser.add_argument("--checkpointing", action="store_true", help="full size: gradient checkpointing on")
    args = parser.parse_args()
    flags = [f for f in ("avx2", "avx512_bf16", "amx_bf16") if f in Path("/proc/cpuinfo").read_text()]
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; CPU flags: {' '.join(flags) or 'none'}")
    if args.full_size:
        bench_fullsize_training(args.full_size_steps, args.checkpointing, args.precision)
    else:
        asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
