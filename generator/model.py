"""Loading SDXL-Turbo (or any SDXL pipeline directory) and making it fast on the device at hand.

- `choose_device` picks CUDA fp16, then MPS fp16, then CPU — bf16 only where the processor has
  native bf16 (AVX512-BF16 / AMX / Arm BF16), int8 linear layers (`generator.int8`) on other x86
  CPUs, fp32 elsewhere; `model.precision` (or the older `model.dtype`) overrides it.
- `load_pipeline` goes through diffusers `from_pretrained` (hub id via the Hugging Face cache, or
  a local directory); a missing model with no way to fetch it raises `ModelMissing` with one line.
- `apply_speedups` switches on the options of `ModelConfig` (SDPA, channels_last, fused QKV,
  tiny autoencoder, fp16 VAE without upcast where safe, regional torch.compile).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    AutoencoderTiny,
    EulerAncestralDiscreteScheduler,
    StableDiffusionXLPipeline,
)
from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

from generator.api import GeneratorError, ModelMissing
from generator.cpu_probe import pick_precision, probe_linear_speeds
from generator.int8 import int8_kernels_available, quantize_linears
from generator.onednn import onednn_packing_available, pack_for_onednn
from generator.options import ModelConfig

log = logging.getLogger(__name__)

DTYPES: dict[str, torch.dtype] = {
    "float16": torch.float16,
    "fp16": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float32": torch.float32,
    "fp32": torch.float32,
}
HUB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")


@dataclass(frozen=True, slots=True)
class DeviceChoice:
    device: torch.device
    dtype: torch.dtype
    reason: str
    int8: bool = False  # CPU: linear layers of the UNet and text encoders compute in int8

    @property
    def precision(self) -> str:
        names = {torch.float32: "fp32", torch.bfloat16: "bf16"}
        return "int8" if self.int8 else names.get(self.dtype, "fp16")


@dataclass(slots=True)
class LoadedModel:
    pipe: StableDiffusionXLPipeline
    choice: DeviceChoice
    speedups: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- device and dtype
def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The processor's feature flags (x86 `flags`, Arm `Features`) from /proc/cpuinfo."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            cpuinfo = ""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            return set(value.split())
    return set()


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16, AMX-BF16, or Arm's BF16 extension).

    Apple silicon CPUs have no /proc/cpuinfo: bf16 is emulated by PyTorch there; MPS is the fast path."""
    return any(flag in cpu_flags(cpuinfo) for flag in BF16_CPU_FLAGS)


def cpu_class(flags: set[str]) -> str:
    """A short name for the CPU's matrix instructions (for the start-up line and the bench)."""
    if "amx_bf16" in flags:
        return "AMX"
    if "avx512_bf16" in flags:
        return "AVX512-BF16"
    if "avx512f" in flags:
        return "AVX512 (no bf16)"
    if "avx2" in flags:
        return "AVX2 (no bf16)"
    if "bf16" in flags:
        return "Arm BF16"
    return "no AVX2"


PRECISIONS = ("auto", "fp32", "bf16", "int8")


def choose_cpu_precision(
    precision: str,
    flags: set[str],
    int8_kernels: bool,
    probe: Callable[[list[str]], dict[str, float]] | None = None,
) -> tuple[torch.dtype, bool, str]:
    """(model dtype, int8 linears?, reason) on a CPU; `precision` is `model.precision`.

    auto: bf16 where the CPU has it natively (fastest there), else int8 linears where PyTorch has its
    x86 int8 kernels (AVX2 servers), else fp32. With `probe` (`generator.cpu_probe`), a CPU with native
    bf16 but no AMX is settled by measuring the candidates instead. Pure apart from the probe: the flags
    are passed in (tested per CPU class)."""
    name = cpu_class(flags)
    if precision == "fp32":
        return torch.float32, False, f"cpu ({name}): fp32, set in the config"
    if precision == "bf16":
        note = "" if any(f in flags for f in BF16_CPU_FLAGS) else " (emulated on this CPU: slow)"
        return torch.bfloat16, False, f"cpu ({name}): bf16, set in the config{note}"
    if precision == "int8":
        if not int8_kernels:
            raise GeneratorError("model.precision is int8 but this PyTorch build has no x86 int8 kernels.")
        return torch.float32, True, f"cpu ({name}): int8 linear layers + fp32, set in the config"
    x86_int8 = int8_kernels and ("avx2" in flags or "avx512f" in flags)
    if probe is not None and "amx_bf16" not in flags and any(f in flags for f in BF16_CPU_FLAGS):
        speeds = probe(["bf16", "fp32", *(["int8"] if x86_int8 else [])])
        chosen = pick_precision(speeds)
        measured = ", ".join(f"{key} {value:.0f}" for key, value in speeds.items())
        words = {"bf16": "bf16 (native)", "fp32": "fp32", "int8": "int8 linears + fp32"}[chosen]
        reason = f"cpu ({name}): {words} (measured at start-up, GFLOP/s: {measured}), precision auto"
        return (torch.bfloat16 if chosen == "bf16" else torch.float32), chosen == "int8", reason
    if any(f in flags for f in BF16_CPU_FLAGS):
        return torch.bfloat16, False, f"cpu ({name}): bf16 (native), precision auto"
    if x86_int8:
        return torch.float32, True, f"cpu ({name}): int8 linears + fp32 (no native bf16), precision auto"
    return torch.float32, False, f"cpu ({name}): fp32 (no native bf16, no int8 kernels), precision auto"


def choose_device(cfg: ModelConfig) -> DeviceChoice:
    """The device and precision from `model.device` / `model.precision` / `model.dtype`
    ("auto" picks the fastest safe pair; `precision` wins over the older `dtype` key)."""
    requested = cfg.device.lower()
    if requested == "auto":
        if torch.cuda.is_available():
            device = torch.device("cuda")
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            device = torch.device("mps")
        else:
            device = torch.device("cpu")
    else:
        try:
            device = torch.device(requested)
        except RuntimeError as exc:
            raise GeneratorError(
                f"model.device '{cfg.device}' is not a device (use auto, cuda, mps or cpu)."
            ) from exc
        if device.type == "cuda" and not torch.cuda.is_available():
            raise GeneratorError("model.device is cuda but no CUDA GPU is available.")

    precision = getattr(cfg, "precision", "auto").lower()
    if precision not in PRECISIONS:
        raise GeneratorError(f"model.precision '{precision}' is not one of auto, fp32, bf16, int8.")
    if precision != "auto" and device.type == "cpu":
        dtype, int8, reason = choose_cpu_precision(precision, cpu_flags(), int8_kernels_available())
        return DeviceChoice(device, dtype, reason, int8=int8)
    if precision == "int8":
        raise GeneratorError("model.precision int8 is for CPUs; use auto or fp32/bf16 on a GPU.")
    if precision in ("fp32", "bf16"):
        return DeviceChoice(device, DTYPES[precision], "set in the config (model.precision)")

    requested_dtype = cfg.dtype.lower()
    if requested_dtype != "auto":
        if requested_dtype not in DTYPES:
            raise GeneratorError(f"model.dtype '{cfg.dtype}' is not one of auto, float16, bfloat16, float32.")
        return DeviceChoice(device, DTYPES[requested_dtype], "set in the config")
    if device.type in ("cuda", "mps"):
        return DeviceChoice(device, torch.float16, f"{device.type}: float16")
    dtype, int8, reason = choose_cpu_precision(
        "auto", cpu_flags(), int8_kernels_available(), probe=probe_linear_speeds
    )
    return DeviceChoice(device, dtype, reason, int8=int8)


# --------------------------------------------------------------------------- loading
def _looks_like_path(name: str) -> bool:
    return (
        name.startswith(("/", "./", "../", "~"))
        or os.sep in name.replace("/", "")
        or not HUB_ID_RE.match(name)
    )


def _missing_message(name: str) -> str:
    if _looks_like_path(name):
        return (
            f"Model directory {name} does not exist or is not a diffusers SDXL pipeline; set model.path "
            "(or --model) to a hub id such as stabilityai/sdxl-turbo or a downloaded model directory."
        )
    return (
        f"Model {name} is not in the Hugging Face cache and the hub cannot be reached; download it with "
        f"`hf download {name}` or point model.path (or --model) at a local directory."
    )


def _variant(cfg: ModelConfig, choice: DeviceChoice, local_dir: Path | None) -> str | None:
    variant = cfg.variant
    if variant in (None, "none", ""):
        return None
    if variant != "auto":
        return variant
    if choice.dtype != torch.float16 or choice.device.type != "cuda":
        return None
    if local_dir is not None:  # only ask for fp16 files a local directory actually has
        return "fp16" if any(local_dir.glob("unet/*.fp16.safetensors")) else None
    return "fp16"


def load_pipeline(
    cfg: ModelConfig, choice: DeviceChoice | None = None, *, speedups: bool = True
) -> LoadedModel:
    """Load the pipeline named by `model.path` and put it on the chosen device.

    With `speedups` the `ModelConfig` speed switches are applied too; callers that still need to
    read LoRAs through peft (which wraps layers) pass False and call `apply_speedups` afterwards.
    """
    choice = choice or choose_device(cfg)
    name = cfg.path
    local_dir = Path(name).expanduser() if Path(name).expanduser().is_dir() else None
    if local_dir is None and _looks_like_path(name):
        raise ModelMissing(_missing_message(name))
    offline = cfg.local_files_only or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    log.info("loading %s on %s (%s)", name, choice.device, choice.reason)
    try:
        pipe = StableDiffusionXLPipeline.from_pretrained(
            str(local_dir) if local_dir is not None else name,
            torch_dtype=choice.dtype,
            variant=_variant(cfg, choice, local_dir),
            use_safetensors=True,
            local_files_only=offline or local_dir is not None,
            add_watermarker=False,
        )
    except (OSError, ValueError) as exc:
        raise ModelMissing(_missing_message(name), detail=f"{type(exc).__name__}: {exc}") from exc
    except Exception as exc:  # huggingface_hub / requests errors have no common base we can name safely
        if type(exc).__module__.split(".")[0] in ("huggingface_hub", "requests", "httpx", "urllib3"):
            raise ModelMissing(_missing_message(name), detail=f"{type(exc).__name__}: {exc}") from exc
        raise
    pipe.scheduler = EulerAncestralDiscreteScheduler.from_config(
        pipe.scheduler.config, timestep_spacing="trailing"
    )
    pipe.set_progress_bar_config(disable=True)
    loaded = LoadedModel(pipe=pipe, choice=choice)
    if cfg.tiny_vae:
        pipe.vae = _load_tiny_vae(cfg, choice)
        loaded.speedups.append("tiny_vae")
    pipe.to(choice.device)
    if speedups:
        loaded.speedups.extend(apply_speedups(pipe, cfg, choice))
    return loaded


def _load_tiny_vae(cfg: ModelConfig, choice: DeviceChoice) -> AutoencoderTiny:
    assert cfg.tiny_vae is not None
    source = cfg.tiny_vae
    is_dir = Path(source).expanduser().is_dir()
    try:
        return AutoencoderTiny.from_pretrained(
            str(Path(source).expanduser()) if is_dir else source,
            torch_dtype=choice.dtype,
            use_safetensors=True,
            local_files_only=is_dir or cfg.local_files_only or os.environ.get("HF_HUB_OFFLINE") == "1",
        )
    except Exception as exc:
        raise ModelMissing(
            f"Tiny autoencoder {source} (model.tiny_vae) could not be loaded; download it with "
            f"`hf download {source}`, point model.tiny_vae at a directory or remove it.",
            detail=f"{type(exc).__name__}: {exc}",
        ) from exc


# --------------------------------------------------------------------------- speed switches
def apply_speedups(pipe: StableDiffusionXLPipeline, cfg: ModelConfig, choice: DeviceChoice) -> list[str]:
    """Apply the `ModelConfig` speed switches; returns the names of those that were applied."""
    applied: list[str] = []
    unet, vae = pipe.unet, pipe.vae
    sdpa = getattr(cfg, "sdpa", True)
    unet.set_attn_processor(AttnProcessor2_0() if sdpa else AttnProcessor())
    if isinstance(vae, AutoencoderKL):
        vae.set_attn_processor(AttnProcessor2_0() if sdpa else AttnProcessor())
    if sdpa:
        applied.append("sdpa")
    if cfg.fuse_qkv:
        unet.fuse_qkv_projections()
        if isinstance(vae, AutoencoderKL):
            vae.fuse_qkv_projections()
        applied.append("fuse_qkv")
    if cfg.channels_last:
        unet.to(memory_format=torch.channels_last)
        vae.to(memory_format=torch.channels_last)
        applied.append("channels_last")
    if _vae_upcast_off(pipe, cfg, choice):
        applied.append("vae_no_upcast")
    if choice.int8:  # after fuse_qkv, so the fused projections are the ones quantized
        for model in (unet, pipe.text_encoder, pipe.text_encoder_2):
            if model is not None:
                quantize_linears(model)
        applied.append("int8")
    mode = _compile_mode(cfg, choice)
    if choice.int8 and mode != "off":
        log.warning("model.compile %s is not used with int8 linear layers (eager int8 kernels)", mode)
        mode = "off"
    packed_models = [m for m in (unet, pipe.text_encoder, pipe.text_encoder_2) if m is not None]
    # not the autoencoder: the tiny one's 64-channel convolutions decoded slower packed (measured)
    if _packs_weights(cfg, choice, mode, packed_models):  # after int8: int8 linears stay, convs get packed
        for model in packed_models:
            pack_for_onednn(model, linears=not choice.int8)
        applied.append("onednn_packed")
    if mode == "regional":
        unet.compile_repeated_blocks(fullgraph=True)
        applied.append("compile_regional")
    elif mode == "full":
        pipe.unet = torch.compile(unet, fullgraph=True)  # type: ignore[assignment]
        applied.append("compile_full")
    return applied


def _packs_weights(cfg: ModelConfig, choice: DeviceChoice, compile_mode: str, models: list) -> bool:
    """oneDNN-packed weights (generator.onednn): CPU only, eager only (a compiled UNet packs its own);
    `auto` only where the packed copies leave as much memory free as they take (near the limit the
    whole process slowed down more than packing gains: docs/performance/cpu.md)."""
    setting = cfg.cpu_packed_weights
    if choice.device.type != "cpu" or compile_mode != "off" or setting is False:
        return False
    compute = torch.float32 if choice.int8 else choice.dtype
    if not onednn_packing_available(compute):
        log.info("oneDNN packed weights unavailable for %s in this PyTorch build", compute)
        return False
    if setting == "auto":
        needed = packed_weight_bytes(models, linears=not choice.int8)
        available = available_memory_bytes()
        if available is not None and not packing_fits(needed, available):
            log.warning(
                "oneDNN packed weights off: they need %.1f GB and %.1f GB of memory is available "
                "(model.cpu_packed_weights: auto; true forces them)",
                needed / 1024**3,
                available / 1024**3,
            )
            return False
    return True


def packing_fits(needed: int, available: int) -> bool:
    """Pack only when the packed copies leave at least as much memory free as they take."""
    return available >= 2 * needed


def packed_weight_bytes(models: list, *, linears: bool) -> int:
    """Bytes the packed copies would take: the weights of the layers `pack_for_onednn` swaps."""
    kinds = (torch.nn.Linear, torch.nn.Conv2d) if linears else (torch.nn.Conv2d,)
    return sum(
        module.weight.numel() * module.weight.element_size()
        for model in models
        for module in model.modules()
        if type(module) in kinds
    )


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux); None where it cannot be read."""
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _vae_upcast_off(pipe: StableDiffusionXLPipeline, cfg: ModelConfig, choice: DeviceChoice) -> bool:
    """Decide whether the VAE decodes in the model dtype (no fp32 copy on every call).

    bf16 has fp32's range, so there is nothing to upcast for. In fp16 the stock SDXL VAE overflows,
    which is why its config says `force_upcast`; it is only dropped for a VAE whose own config says
    it is fp16-safe, or when `model.vae_upcast` is "never" (the operator's choice).
    """
    vae = pipe.vae
    if not isinstance(vae, AutoencoderKL):
        return False  # AutoencoderTiny has no upcast
    policy = getattr(cfg, "vae_upcast", "auto")
    if policy not in ("auto", "always", "never"):
        raise GeneratorError(f"model.vae_upcast '{policy}' is not one of auto, always, never.")
    if policy == "always":
        vae.register_to_config(force_upcast=True)
        return False
    if policy == "never" or choice.dtype != torch.float16:
        vae.register_to_config(force_upcast=False)
        return choice.dtype != torch.float32
    return not vae.config.force_upcast


def _compile_mode(cfg: ModelConfig, choice: DeviceChoice) -> str:
    mode = cfg.compile.lower()
    if mode == "auto":
        return "regional" if choice.device.type == "cuda" else "off"
    if mode not in ("off", "regional", "full"):
        raise GeneratorError(f"model.compile '{cfg.compile}' is not one of auto, off, regional, full.")
    return mode
