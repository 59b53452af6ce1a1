"""LoRA training on the SDXL UNet's attention projections (peft), with checkpoints and resume.

`LoraTrainer` owns one loaded pipeline: it freezes everything, adds a peft LoRA adapter on
`to_q`/`to_k`/`to_v`/`to_out.0` of every attention block, and optimises the noise-prediction
loss (`objective.py`). On CUDA it trains in mixed precision (bf16 where supported, else fp16
with loss scaling) with gradient checkpointing; on a CPU it trains in fp32. All randomness
comes from one seeded CPU generator whose state is saved with every checkpoint, so a resumed
run continues exactly where it stopped.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from diffusers import DDPMScheduler, StableDiffusionXLPipeline
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict
from tqdm.auto import tqdm

from generator.training.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from generator.training.errors import StudioError
from generator.training.objective import EncodedExamples, noise_prediction_loss

log = logging.getLogger(__name__)

TARGET_MODULES = ("to_q", "to_k", "to_v", "to_out.0")
ADAPTER = "studio"
UNET_PREFIX = "unet."

Precision = Literal["auto", "no", "fp16", "bf16"]
Switch = Literal["auto", "on", "off"]


@dataclass
class TrainSettings:
    steps: int = 500
    rank: int = 8
    learning_rate: float = 1e-4
    batch_size: int = 1
    seed: int = 0
    checkpoint_every: int = 100
    precision: Precision = "auto"
    gradient_checkpointing: Switch = "auto"
    max_grad_norm: float = 1.0
    weight_decay: float = 1e-2

    def validate(self) -> None:
        checks = [
            (1 <= self.steps <= 1_000_000, "--steps must be 1 to 1000000"),
            (1 <= self.rank <= 256, "--rank must be 1 to 256"),
            (0 < self.learning_rate <= 1.0, "--lr must be above 0 and at most 1"),
            (1 <= self.batch_size <= 64, "--batch-size must be 1 to 64"),
            (self.checkpoint_every >= 1, "--checkpoint-every must be at least 1"),
            (self.precision in ("auto", "no", "fp16", "bf16"), "--precision must be auto, no, fp16 or bf16"),
        ]
        for ok, message in checks:
            if not ok:
                raise StudioError(message)


@dataclass
class TrainResult:
    lora: dict[str, torch.Tensor]  # diffusers format: `unet.<module>.lora_A.weight` / `lora_B`
    losses: list[float]
    start_step: int
    final_step: int
    run_dir: Path
    checkpoints: list[Path] = field(default_factory=list)


def fingerprint(data: EncodedExamples) -> str:
    """A short hash of the cached training data, so `--resume` refuses a different dataset."""
    digest = hashlib.sha256()
    for tensor in (data.latent_mean, data.prompt_embeds, data.weights):
        digest.update(tensor.to(torch.float32).numpy().round(3).tobytes())
    return digest.hexdigest()[:16]


def autocast_dtype(precision: Precision, device: torch.device) -> torch.dtype | None:
    """The mixed-precision compute dtype, or None for fp32 training."""
    if precision == "no" or (precision == "auto" and device.type != "cuda"):
        return None
    if precision == "fp16":
        return torch.float16
    if precision == "bf16":
        return torch.bfloat16
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


class LoraTrainer:
    """Adds a trainable LoRA to `pipe.unet` and trains it on cached examples."""

    def __init__(self, pipe: StableDiffusionXLPipeline, settings: TrainSettings) -> None:
        settings.validate()
        self.pipe = pipe
        self.settings = settings
        self.unet = pipe.unet
        self.device = self.unet.device
        self.amp_dtype = autocast_dtype(settings.precision, self.device)
        for module in (pipe.unet, pipe.vae, pipe.text_encoder, pipe.text_encoder_2):
            if module is not None:
                module.requires_grad_(False)
        torch.manual_seed(settings.seed)  # peft's LoRA A initialisation
        config = LoraConfig(
            r=settings.rank,
            lora_alpha=settings.rank,  # scale 1: what diffusers assumes for files without alphas
            init_lora_weights="gaussian",
            target_modules=list(TARGET_MODULES),
        )
        self.unet.add_adapter(config, adapter_name=ADAPTER)
        self.unet.set_adapter(ADAPTER)
        self.params = [p for p in self.unet.parameters() if p.requires_grad]
        for param in self.params:  # LoRA weights train in fp32 even when the base is half precision
            param.data = param.data.float()
        checkpointing = settings.gradient_checkpointing
        if checkpointing == "on" or (checkpointing == "auto" and self.device.type == "cuda"):
            self.unet.enable_gradient_checkpointing()
        self.optimizer = torch.optim.AdamW(
            self.params, lr=settings.learning_rate, weight_decay=settings.weight_decay
        )
        use_scaler = self.amp_dtype == torch.float16
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=use_scaler)
        self.scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
        self.generator = torch.Generator().manual_seed(settings.seed)

    # ------------------------------------------------------------------ weights
    def lora_state_dict(self) -> dict[str, torch.Tensor]:
        """The LoRA in the diffusers file format (fp32, CPU)."""
        peft_state = get_peft_model_state_dict(self.unet, adapter_name=ADAPTER)
        return {UNET_PREFIX + k: v.detach().float().cpu().contiguous() for k, v in peft_state.items()}

    def load_lora_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        peft_state = {k.removeprefix(UNET_PREFIX): v for k, v in state.items()}
        result = set_peft_model_state_dict(self.unet, peft_state, adapter_name=ADAPTER)
        unexpected = getattr(result, "unexpected_keys", None)
        if unexpected:
            raise StudioError(f"Checkpoint LoRA does not fit this model (e.g. {unexpected[0]}).")

    def remove_adapter(self) -> None:
        """Take the training adapter off the UNet (the pipeline is the base model again)."""
        self.unet.delete_adapters(ADAPTER)
        self.unet.disable_gradient_checkpointing()
        self.unet.eval()

    # ------------------------------------------------------------------ training
    @torch.no_grad()
    def fixed_loss(self, data: EncodedExamples, seed: int = 1234, repeats: int = 4) -> float:
        """Loss over every example with fixed noise and timesteps: comparable before and after training."""
        generator = torch.Generator().manual_seed(seed)
        index = torch.arange(len(data))
        amp = self.amp_dtype
        losses = [
            noise_prediction_loss(self.unet, self.scheduler, data, index, generator, autocast_dtype=amp)
            for _ in range(repeats)
        ]
        return float(torch.stack(losses).mean())

    def train(
        self,
        data: EncodedExamples,
        run_dir: Path,
        *,
        resume: bool = False,
        run_info: dict[str, Any] | None = None,
        progress: bool = True,
        on_step: Callable[[int, float], None] | None = None,
    ) -> TrainResult:
        """Train to `settings.steps`, checkpointing into `run_dir/checkpoints/`."""
        settings = self.settings
        info = {
            **(run_info or {}),
            "settings": asdict(settings),
            "data": fingerprint(data),
            "examples": len(data),
        }
        losses: list[float] = []
        start = 0
        found = latest_checkpoint(run_dir)
        if resume:
            if found is None:
                raise StudioError(f"Nothing to resume: {run_dir} has no checkpoints.")
            start, losses = self._restore(found, info)
        elif found is not None:
            raise StudioError(
                f"{run_dir} already has checkpoints; pass --resume to continue that run, "
                "or choose another --out."
            )
        written: list[Path] = []
        self.unet.train()
        bar = tqdm(total=settings.steps, initial=start, desc="training", unit="step", disable=not progress)
        try:
            for step in range(start, settings.steps):
                loss = self._step(data)
                losses.append(loss)
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}")
                if on_step is not None:
                    on_step(step + 1, loss)
                done = step + 1
                if done % settings.checkpoint_every == 0 or done == settings.steps:
                    written.append(self._save(run_dir, done, losses, info))
        finally:
            bar.close()
            self.unet.eval()
        return TrainResult(
            lora=self.lora_state_dict(),
            losses=losses,
            start_step=start,
            final_step=max(start, settings.steps),
            run_dir=run_dir,
            checkpoints=written,
        )

    def fit(
        self,
        data: EncodedExamples,
        run_dir: Path,
        *,
        judge: EncodedExamples,
        resume: bool,
        run_info: dict[str, Any],
        progress: bool,
        on_step: Callable[[int, float], None] | None,
    ) -> tuple[TrainResult, float, float]:
        """Train, measuring the loss on `judge` before and after; the adapter is removed afterwards
        (its weights live on in the result). Returns (result, loss_before, loss_after)."""
        try:
            before = self.fixed_loss(judge)
            result = self.train(
                data, run_dir, resume=resume, run_info=run_info, progress=progress, on_step=on_step
            )
            after = self.fixed_loss(judge)
        finally:
            self.remove_adapter()
        return result, before, after

    def _step(self, data: EncodedExamples) -> float:
        index = torch.randint(0, len(data), (self.settings.batch_size,), generator=self.generator)
        loss = noise_prediction_loss(
            self.unet, self.scheduler, data, index, self.generator, autocast_dtype=self.amp_dtype
        )
        if not torch.isfinite(loss):
            raise StudioError("Training diverged (the loss is not finite); try a lower --lr.")
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.params, self.settings.max_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    def _save(self, run_dir: Path, step: int, losses: list[float], info: dict[str, Any]) -> Path:
        state = {**info, "losses": [round(x, 6) for x in losses]}
        optimizer = self.optimizer.state_dict()
        rng = self.generator.get_state()
        return save_checkpoint(run_dir, step, self.lora_state_dict(), optimizer, rng, state)

    def _restore(self, path: Path, info: dict[str, Any]) -> tuple[int, list[float]]:
        checkpoint = load_checkpoint(path)
        saved = checkpoint.state
        for key in ("rank", "batch_size", "seed"):
            before, now = saved.get("settings", {}).get(key), info["settings"][key]
            if before != now:
                raise StudioError(f"Cannot resume {path.name}: it used {key}={before}, not {now}.")
        if saved.get("data") != info["data"]:
            raise StudioError(f"Cannot resume {path.name}: the training images or captions have changed.")
        for key in ("model", "name"):
            if key in info and saved.get(key) != info[key]:
                raise StudioError(f"Cannot resume {path.name}: it belongs to {key} {saved.get(key)!r}.")
        self.load_lora_state_dict(checkpoint.lora)
        try:
            self.optimizer.load_state_dict(checkpoint.optimizer)
        except (ValueError, KeyError) as exc:
            raise StudioError(f"Cannot resume {path.name}: optimizer state does not fit ({exc}).") from exc
        for group in self.optimizer.param_groups:  # a new --lr applies from here on
            group["lr"] = self.settings.learning_rate
        self.generator.set_state(checkpoint.rng_state)
        losses = [float(x) for x in saved.get("losses", [])]
        log.info("resuming %s from step %d", path.parent.parent, checkpoint.step)
        return checkpoint.step, losses
