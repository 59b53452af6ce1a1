"""Training checkpoints: LoRA weights, optimizer state and RNG state as `.safetensors`, the rest as JSON.

A checkpoint is a folder `checkpoints/step-NNNNNN/` with
- `lora.safetensors`: the LoRA so far, in the diffusers format (loadable like any style LoRA),
- `trainer.safetensors`: optimizer tensors (`optimizer.<param>.<name>`) and the RNG state (`rng`),
- `state.json`: step, losses, optimizer hyper-parameters and the run's settings.
Nothing is pickled. A checkpoint is written to a temporary folder and renamed when complete.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from generator.training.errors import StudioError

CHECKPOINT_RE = re.compile(r"^step-(\d{6,})$")
LORA_FILE = "lora.safetensors"
TRAINER_FILE = "trainer.safetensors"
STATE_FILE = "state.json"


@dataclass
class Checkpoint:
    step: int
    lora: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    rng_state: torch.Tensor
    state: dict[str, Any] = field(default_factory=dict)


def optimizer_to_tensors(state_dict: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split `optimizer.state_dict()` into tensors (for safetensors) and JSON-able rest."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for param_id, values in state_dict["state"].items():
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"optimizer.{param_id}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(param_id), {})[key] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def optimizer_from_tensors(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if not name.startswith("optimizer."):
            continue
        _, param_id, key = name.split(".", 2)
        state.setdefault(int(param_id), {})[key] = value
    for param_id, values in meta.get("scalars", {}).items():
        state.setdefault(int(param_id), {}).update(values)
    groups = []
    for group in meta["param_groups"]:
        group = dict(group)
        if isinstance(group.get("betas"), list):
            group["betas"] = tuple(group["betas"])
        groups.append(group)
    return {"state": state, "param_groups": groups}


def checkpoint_dirs(run_dir: Path) -> list[tuple[int, Path]]:
    folder = run_dir / "checkpoints"
    if not folder.is_dir():
        return []
    found = []
    for entry in folder.iterdir():
        match = CHECKPOINT_RE.match(entry.name)
        if match and entry.is_dir() and (entry / STATE_FILE).is_file():
            found.append((int(match.group(1)), entry))
    return sorted(found)


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = checkpoint_dirs(run_dir)
    return found[-1][1] if found else None


def save_checkpoint(
    run_dir: Path,
    step: int,
    lora: dict[str, torch.Tensor],
    optimizer_state: dict[str, Any],
    rng_state: torch.Tensor,
    state: dict[str, Any],
    *,
    keep: int = 2,
) -> Path:
    """Write checkpoint `step` and delete all but the newest `keep` checkpoints of this run."""
    folder = run_dir / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"step-{step:06d}"
    partial = folder / f".step-{step:06d}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    tensors, optimizer_meta = optimizer_to_tensors(optimizer_state)
    tensors["rng"] = rng_state.clone()
    save_file({k: v.detach().cpu().contiguous() for k, v in lora.items()}, str(partial / LORA_FILE))
    save_file(tensors, str(partial / TRAINER_FILE))
    payload = {**state, "step": step, "optimizer": optimizer_meta}
    (partial / STATE_FILE).write_text(json.dumps(payload, indent=1), encoding="utf-8")
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    for _, old in checkpoint_dirs(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(path: Path) -> Checkpoint:
    try:
        state = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
        lora = load_file(str(path / LORA_FILE))
        tensors = load_file(str(path / TRAINER_FILE))
        step = int(state["step"])
        optimizer = optimizer_from_tensors(tensors, state["optimizer"])
        rng = tensors["rng"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StudioError(f"Checkpoint {path} is incomplete or corrupt ({exc}).") from exc
    return Checkpoint(step=step, lora=lora, optimizer=optimizer, rng_state=rng, state=state)
