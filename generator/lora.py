"""LoRA styles fused into the model's weights, and fast switching between them.

A style's LoRAs are read once (validated `.safetensors` only), converted by diffusers/peft into
per-layer low-rank factors, and then kept as `StyleWeights`: for every layer a LoRA touches, the
factors and scales whose product is the weight change. Activating a style writes
`base + Σ scale·B·A` into the layer's weight in place, so a fused style costs nothing per step and
in-place writes keep a compiled UNet valid. Switching restores the base weights of the layers the
previous style touched (from a copy taken before the first fusion) and fuses the next style.

With `hot_styles > 0` the fused weights of the most recently used styles are kept, so switching
back to a hot style is a plain weight copy instead of low-rank matmuls (docs/performance/index.md
gives the measured difference).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import struct
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import torch
from diffusers import StableDiffusionXLPipeline
from diffusers.models.attention_processor import Attention
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from generator.api import StyleError
from generator.styles import LoraRef, StyleSpec

log = logging.getLogger(__name__)

MAX_LORA_BYTES = 2 * 1024**3
"""Largest LoRA file accepted (full-rank SDXL LoRAs are under 1 GB)."""
MAX_HEADER_BYTES = 100 * 1024**2
COMPONENTS = ("unet", "text_encoder", "text_encoder_2")
_DOWN_KEY_MARKERS = (".lora_A.", ".lora_down.", ".lora.down.", "_lora.down.", ".lora_linear_layer.down.")

Downloader = Callable[[LoraRef], Path]


# --------------------------------------------------------------------------- reading files
def read_lora_file(path: Path, *, max_bytes: int = MAX_LORA_BYTES) -> dict[str, torch.Tensor]:
    """Read a LoRA `.safetensors` file, refusing anything else; errors name the file."""
    label = path.name
    if path.suffix != ".safetensors":
        raise StyleError(f"LoRA {label}: only .safetensors files are loaded.")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise StyleError(f"LoRA {label}: file not found ({path}).") from exc
    if size > max_bytes:
        raise StyleError(
            f"LoRA {label}: {size / 1024**2:.0f} MB is larger than the {max_bytes / 1024**2:.0f} MB limit."
        )
    _check_safetensors_header(path, size)
    try:
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise StyleError(f"LoRA {label}: not a readable safetensors file ({exc}).") from exc
    _check_finite(state, label)
    return state


def _check_finite(state: dict[str, torch.Tensor], label: str) -> None:
    """A LoRA with NaN or Inf values would poison every image of its style: refuse it at load."""
    for key, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise StyleError(f"LoRA {label}: tensor {key} holds NaN or infinite values.")


def _check_safetensors_header(path: Path, size: int) -> None:
    """Cheap structural check before handing the file to the safetensors parser."""
    label = path.name
    try:
        with path.open("rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise StyleError(f"LoRA {label}: not a safetensors file (too short).")
            (header_len,) = struct.unpack("<Q", prefix)
            if header_len > min(MAX_HEADER_BYTES, size - 8):
                raise StyleError(f"LoRA {label}: not a safetensors file (bad header).")
            header = json.loads(handle.read(header_len))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise StyleError(f"LoRA {label}: not a safetensors file ({type(exc).__name__}).") from exc
    if not isinstance(header, dict) or not any(key != "__metadata__" for key in header):
        raise StyleError(f"LoRA {label}: the file holds no tensors.")


def download_hub_lora(ref: LoraRef) -> Path:
    """Find a hub LoRA's `.safetensors` file in the Hugging Face cache, or download it there.

    The cache is tried first, then the hub only if it answers a quick connection probe: an offline
    machine learns "unavailable" at once instead of after huggingface_hub's retry back-off (~20 s).
    """
    from huggingface_hub import constants, hf_hub_download

    assert ref.weight_name is not None
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")

    def fetch(local_only: bool) -> Path:
        return Path(
            hf_hub_download(ref.source, ref.weight_name, revision=ref.revision, local_files_only=local_only)
        )

    try:
        try:
            return fetch(local_only=True)
        except Exception:
            if offline or not _hub_reachable(constants.ENDPOINT):
                raise
            return fetch(local_only=False)
    except Exception as exc:  # offline, unreachable, missing repo/file: all mean "unavailable"
        raise StyleError(
            f"LoRA {ref.source}/{ref.weight_name} is not cached and could not be downloaded from the hub; "
            f"fetch it with `hf download {ref.source} {ref.weight_name}`.",
            detail=f"{type(exc).__name__}: {exc}",
        ) from exc


def _hub_reachable(endpoint: str, timeout_s: float = 3.0) -> bool:
    parsed = urlparse(endpoint)
    host = parsed.hostname
    if not host:
        return False
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def resolve_lora(ref: LoraRef, downloader: Downloader = download_hub_lora) -> Path:
    return ref.local_path if ref.local_path is not None else downloader(ref)


# --------------------------------------------------------------------------- factors
@dataclass(slots=True)
class LayerDelta:
    """The weight change of one layer: up @ down (all of a style's LoRAs concatenated along the rank,
    scales folded into `up`), plus an optional dense part (LoRAs on convolutions)."""

    ups: list[torch.Tensor] = field(default_factory=list)  # B·scale, shape [out, r] each
    downs: list[torch.Tensor] = field(default_factory=list)  # A, shape [r, in] each
    dense: torch.Tensor | None = None
    up: torch.Tensor | None = None  # after finalize(): [out, Σr]
    down: torch.Tensor | None = None  # after finalize(): [Σr, in]

    def finalize(self, device: torch.device, dtype: torch.dtype) -> None:
        """Concatenate the factors so fusing is one matmul, and move them next to the weights.

        On a CPU the factors stay in fp32: small bf16 matmuls are very slow there (measured), and the
        fp32 product is rounded once when it is added to the weight."""
        factor_dtype = torch.float32 if device.type == "cpu" else dtype
        if self.ups:
            self.up = torch.cat(self.ups, dim=1).to(device=device, dtype=factor_dtype).contiguous()
            self.down = torch.cat(self.downs, dim=0).to(device=device, dtype=factor_dtype).contiguous()
        self.ups, self.downs = [], []
        if self.dense is not None:
            self.dense = self.dense.to(device=device, dtype=dtype)

    def fuse(self, weight: torch.Tensor, base: torch.Tensor) -> None:
        """weight = base + up @ down (+ dense), in place.

        A copy followed by an in-place addmm measured faster on CPUs than `addmm(..., out=weight)`;
        on a GPU both are a few microseconds per layer."""
        weight.copy_(base)
        if self.up is not None and self.down is not None:
            flat = weight.view(weight.shape[0], -1)
            if self.up.dtype == weight.dtype:
                flat.addmm_(self.up, self.down)
            else:  # fp32 factors on a CPU: fp32 product, rounded once into the weight's dtype
                flat.add_(self.up @ self.down)
        if self.dense is not None:
            weight.add_(self.dense)


@dataclass(slots=True)
class StyleWeights:
    """Everything needed to fuse one style: layer name (per component) → its delta."""

    style: str
    layers: dict[tuple[str, str], LayerDelta]
    rank: int = 0


def _expected_layers(state: dict[str, torch.Tensor]) -> int:
    return sum(1 for key in state if any(marker in key for marker in _DOWN_KEY_MARKERS))


def extract_style_weights(
    pipe: StableDiffusionXLPipeline,
    style: str,
    loras: Iterable[tuple[str, dict[str, torch.Tensor], float]],
) -> StyleWeights:
    """Turn (label, state dict, scale) LoRAs into per-layer factors on the pipeline's device.

    diffusers converts the file format (peft, old diffusers, kohya/A1111) and peft checks the shapes;
    a LoRA whose keys do not fit this model raises StyleError naming it. The adapters are removed
    again before returning, so the pipeline's modules are unchanged.
    """
    from peft.tuners.lora import LoraLayer

    layers: dict[tuple[str, str], LayerDelta] = {}
    max_rank = 0
    for index, (label, state, scale) in enumerate(loras):
        adapter = f"stickerbot_{index}"
        expected = _expected_layers(state)
        try:
            with quiet_diffusers():  # "no LoRA keys for text_encoder" is normal for UNet-only LoRAs
                pipe.load_lora_weights(dict(state), adapter_name=adapter)
        except Exception as exc:
            _remove_adapters(pipe)
            raise StyleError(
                f"LoRA {label} does not fit this model (made for another base model?).",
                detail=f"{type(exc).__name__}: {str(exc)[:300]}",
            ) from exc
        found = 0
        try:
            for component in COMPONENTS:
                model = getattr(pipe, component, None)
                if model is None:
                    continue
                for name, module in model.named_modules():
                    if not isinstance(module, LoraLayer) or adapter not in module.lora_A:
                        continue
                    found += 1
                    delta = layers.setdefault((component, name), LayerDelta())
                    rank = _collect(module, adapter, scale, delta)
                    max_rank = max(max_rank, rank)
        finally:
            _remove_adapters(pipe)
        if found == 0 or found < expected:
            raise StyleError(
                f"LoRA {label} does not fit this model: {expected - found} of its {expected} layers match "
                "no layer of it (made for another base model?)."
            )
    return StyleWeights(style=style, layers=layers, rank=max_rank)


@contextmanager
def quiet_diffusers() -> Iterator[None]:
    """Silence diffusers' warnings for a moment (for warnings that are expected and harmless here)."""
    logger = logging.getLogger("diffusers")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _collect(module: nn.Module, adapter: str, scale: float, delta: LayerDelta) -> int:
    lora_a = module.lora_A[adapter]  # type: ignore[index]
    lora_b = module.lora_B[adapter]  # type: ignore[index]
    factor = float(module.scaling[adapter]) * scale  # type: ignore[index]
    rank = int(lora_a.weight.shape[0])
    if (
        isinstance(lora_a, nn.Linear)
        and isinstance(lora_b, nn.Linear)
        and not getattr(module, "fan_in_fan_out", False)
    ):
        delta.ups.append((lora_b.weight.detach().float() * factor).contiguous())
        delta.downs.append(lora_a.weight.detach().float().contiguous())
    else:
        dense = module.get_delta_weight(adapter).detach().float() * scale  # type: ignore[operator]
        delta.dense = dense if delta.dense is None else delta.dense + dense
    return rank


def _remove_adapters(pipe: StableDiffusionXLPipeline) -> None:
    try:
        pipe.unload_lora_weights()
    except Exception:  # nothing was loaded, or loading failed half-way: nothing left to undo then
        log.debug("unload_lora_weights found nothing to unload", exc_info=True)


# --------------------------------------------------------------------------- fusing and switching
class LoraFuser:
    """Owns the fused state of a pipeline's weights. Not thread-safe: the pipeline's thread uses it."""

    def __init__(self, pipe: StableDiffusionXLPipeline, *, hot_styles: int = 0) -> None:
        self.pipe = pipe
        self.hot_styles = max(0, hot_styles)
        self.active: StyleWeights | None = None
        self._base: dict[tuple[str, str], torch.Tensor] = {}
        self._hot: OrderedDict[str, dict[tuple[str, str], torch.Tensor]] = OrderedDict()
        self._modules = {
            component: dict(getattr(pipe, component).named_modules())
            for component in COMPONENTS
            if getattr(pipe, component, None) is not None
        }

    @property
    def modules(self) -> dict[str, dict[str, nn.Module]]:
        """Every module of the pipeline's components, by component and name."""
        return self._modules

    def _module(self, key: tuple[str, str]) -> nn.Module:
        return self._modules[key[0]][key[1]]

    def prepare(self, weights: StyleWeights) -> StyleWeights:
        """Put each layer's factors on its weight's device, in its dtype, ready for `activate`."""
        for key, delta in weights.layers.items():
            weight = self._module(key).weight
            delta.finalize(weight.device, weight.dtype)
        return weights

    @torch.no_grad()
    def activate(self, weights: StyleWeights | None) -> float:
        """Make `weights` (None = the base model) the fused state; returns milliseconds spent."""
        if weights is self.active or (weights is None and self.active is None):
            return 0.0
        start = time.perf_counter()
        previous = self.active
        touched: set[tuple[str, str]] = set(previous.layers) if previous else set()
        new_layers = set(weights.layers) if weights else set()
        for key in new_layers - self._base.keys():
            self._base[key] = self._module(key).weight.detach().clone()
        self.active = None  # unknown until the switch completes
        for key in touched - new_layers:
            self._module(key).weight.copy_(self._base[key])
        if weights is not None:
            hot = self._hot.get(weights.style)
            if hot is not None:
                for key, fused in hot.items():
                    self._module(key).weight.copy_(fused)
                self._hot.move_to_end(weights.style)
            else:
                for key, delta in weights.layers.items():
                    delta.fuse(self._module(key).weight, self._base[key])
                self._remember_hot(weights)
        self._sync_fused_projections(touched | new_layers)
        self.active = weights
        if self.pipe.device.type == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - start) * 1000.0

    @torch.no_grad()
    def reset(self) -> None:
        """Write every saved base weight back (after a failed switch the state is unknown)."""
        for key, base in self._base.items():
            self._module(key).weight.copy_(base)
        self._sync_fused_projections(set(self._base))
        self.active = None

    def _remember_hot(self, weights: StyleWeights) -> None:
        if self.hot_styles == 0:
            return
        self._hot[weights.style] = {key: self._module(key).weight.detach().clone() for key in weights.layers}
        while len(self._hot) > self.hot_styles:
            self._hot.popitem(last=False)

    def forget(self, style: str) -> None:
        """Drop `style`'s hot fused copy (a Serve replica does when the style is evicted)."""
        self._hot.pop(style, None)

    def _sync_fused_projections(self, keys: set[tuple[str, str]]) -> None:
        """Keep `to_qkv` / `to_kv` (made by fuse_qkv_projections) equal to the separate projections
        whose weights changed: one slice copy per projection, no temporary concatenation."""
        parents: set[tuple[str, str]] = set()
        for component, name in keys:
            parent_name, _, leaf = name.rpartition(".")
            if leaf in ("to_q", "to_k", "to_v"):
                parents.add((component, parent_name))
        for component, parent_name in parents:
            attn = self._modules[component].get(parent_name)
            if not isinstance(attn, Attention) or not getattr(attn, "fused_projections", False):
                continue
            if not attn.is_cross_attention and hasattr(attn, "to_qkv"):
                parts, fused = (attn.to_q, attn.to_k, attn.to_v), attn.to_qkv.weight
            elif attn.is_cross_attention and hasattr(attn, "to_kv"):
                parts, fused = (attn.to_k, attn.to_v), attn.to_kv.weight
            else:
                continue
            row = 0
            for part in parts:
                rows = part.weight.shape[0]
                fused[row : row + rows].copy_(part.weight)
                row += rows


def style_lora_inputs(
    spec: StyleSpec, *, downloader: Downloader = download_hub_lora, max_bytes: int = MAX_LORA_BYTES
) -> list[tuple[str, dict[str, torch.Tensor], float]]:
    """Read (and for hub LoRAs download) a style's LoRA files, validated."""
    inputs = []
    for ref in spec.loras:
        path = resolve_lora(ref, downloader)
        label = path.name if ref.is_local else ref.label
        inputs.append((label, read_lora_file(path, max_bytes=max_bytes), ref.scale))
    return inputs
