"""Writing a finished style: the LoRA as a diffusers `.safetensors` file and a validated style YAML.

Layout under the styles directory (what `generator.styles` reads)::

    styles/<name>.yaml                 # source: loras/<name>.safetensors
    styles/loras/<name>.safetensors    # unet.<module>.lora_A.weight / lora_B.weight

The LoRA file is written by diffusers' own `save_lora_weights` (or in the kohya layout), so it
loads with `pipe.load_lora_weights(styles/loras, weight_name="<name>.safetensors")` in plain
diffusers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import yaml
from diffusers import StableDiffusionXLPipeline
from diffusers.utils import convert_state_dict_to_kohya
from safetensors.torch import save_file

from generator.styles import DEFAULT_TEMPLATE, StyleSpec, load_style_file, parse_style
from generator.training.errors import StudioError
from generator.training.paths import inside, prepare_dir, validate_name

LORA_DIR = "loras"
COMPONENTS = ("unet", "text_encoder", "text_encoder_2")
LORA_FORMATS = ("diffusers", "kohya")
LoraFormat = Literal["diffusers", "kohya"]


@dataclass
class StyleDraft:
    """The fields of a style file the studio writes."""

    name: str
    description: str
    subject: str
    triggers: Sequence[str] = ()
    template: str = DEFAULT_TEMPLATE
    negative_prompt: str = "photo, realistic, text, watermark"
    background: str | Sequence[int] = "white"
    steps: int = 1
    outline: bool = True
    loras: list[dict[str, Any]] = field(default_factory=list)

    def to_yaml_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "trigger": list(self.triggers) if len(self.triggers) != 1 else self.triggers[0],
            "template": self.template,
            "subject": self.subject,
            "negative_prompt": self.negative_prompt,
            "background": self.background if isinstance(self.background, str) else list(self.background),
            "steps": self.steps,
            "outline": self.outline,
        }
        if not self.triggers:
            del data["trigger"]
        if self.loras:
            data["loras"] = self.loras
        return data


def draft_from_spec(spec: StyleSpec, **changes: Any) -> StyleDraft:
    """A draft that copies `spec`'s settings (without its LoRAs unless given in `changes`)."""
    values: dict[str, Any] = {
        "name": spec.name,
        "description": spec.description,
        "subject": spec.subject,
        "triggers": list(spec.triggers),
        "template": spec.template,
        "negative_prompt": spec.negative_prompt,
        "background": spec.background_name,
        "steps": spec.steps,
        "outline": spec.outline,
    }
    values.update(changes)
    return StyleDraft(**values)


def split_components(lora: Mapping[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    """`unet.x.lora_A.weight` -> {"unet": {"x.lora_A.weight": ...}} (diffusers' packing prefixes)."""
    parts: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in lora.items():
        component, _, rest = key.partition(".")
        if component not in COMPONENTS or not rest:
            raise StudioError(f"LoRA key {key!r} does not start with unet., text_encoder. or text_encoder_2.")
        parts.setdefault(component, {})[rest] = value.detach().float().cpu().contiguous()
    return parts


def save_lora_file(
    lora: Mapping[str, torch.Tensor], directory: Path, weight_name: str, lora_format: LoraFormat = "diffusers"
) -> Path:
    """Write `lora` (diffusers keys with component prefixes) as `directory/weight_name`.

    "diffusers" goes through diffusers' own `save_lora_weights`; "kohya" writes the
    `lora_unet_<module>.lora_down/lora_up/alpha` layout that ComfyUI/A1111-style tools read.
    Both load with `load_lora_weights`.
    """
    if not weight_name.endswith(".safetensors") or os.sep in weight_name or "/" in weight_name:
        raise StudioError(f"LoRA file name {weight_name!r} must be a plain *.safetensors name.")
    if lora_format not in LORA_FORMATS:
        raise StudioError(f"LoRA format {lora_format!r} is not one of {', '.join(LORA_FORMATS)}.")
    target = inside(directory, weight_name)
    parts = split_components(lora)
    if lora_format == "kohya":
        flat = {f"{part}.{key}": value for part, values in parts.items() for key, value in values.items()}
        kohya = {k: v.contiguous() for k, v in convert_state_dict_to_kohya(flat).items()}
        save_file(kohya, str(target), metadata={"format": "pt"})
        return target
    StableDiffusionXLPipeline.save_lora_weights(
        save_directory=str(directory),
        unet_lora_layers=parts.get("unet"),
        text_encoder_lora_layers=parts.get("text_encoder"),
        text_encoder_2_lora_layers=parts.get("text_encoder_2"),
        weight_name=weight_name,
        safe_serialization=True,
    )
    return target


def style_path(styles_dir: str | Path, name: str) -> Path:
    return inside(styles_dir, f"{validate_name(name)}.yaml")


def check_free(styles_dir: str | Path, name: str, *, overwrite: bool) -> None:
    """Refuse to replace an existing style unless asked to (shipped styles are easy to clobber)."""
    target = style_path(styles_dir, name)
    if target.exists() and not overwrite:
        raise StudioError(f"Style {name!r} already exists ({target}); pass --force to replace it.")


def check_draft(styles_dir: str | Path, draft: StyleDraft) -> None:
    """Run the engine's style schema over `draft` before any work (a bad --subject fails early)."""
    target = style_path(styles_dir, draft.name)
    parse_style(draft.to_yaml_data(), file_label=target.name, style_dir=target.parent)


def write_style(styles_dir: str | Path, draft: StyleDraft, *, overwrite: bool = False) -> StyleSpec:
    """Write `<styles_dir>/<name>.yaml` (schema-checked first, then moved into place atomically)."""
    check_free(styles_dir, draft.name, overwrite=overwrite)
    check_draft(styles_dir, draft)
    target = style_path(styles_dir, draft.name)
    prepare_dir(styles_dir)
    partial = target.with_name(f".{target.name}.partial")
    text = yaml.safe_dump(draft.to_yaml_data(), sort_keys=False, allow_unicode=True)
    partial.write_text(f"# Written by `stickerbot styles`.\n{text}", encoding="utf-8")
    partial.replace(target)
    return load_style_file(target)


def export_style(
    styles_dir: str | Path,
    draft: StyleDraft,
    lora: Mapping[str, torch.Tensor],
    *,
    overwrite: bool = False,
    lora_format: LoraFormat = "diffusers",
) -> StyleSpec:
    """Save `lora` as `loras/<name>.safetensors` and a style YAML that uses it with scale 1."""
    validate_name(draft.name)
    check_free(styles_dir, draft.name, overwrite=overwrite)
    lora_dir = prepare_dir(styles_dir, LORA_DIR)
    weight_name = f"{draft.name}.safetensors"
    save_lora_file(lora, lora_dir, weight_name, lora_format)
    draft.loras = [{"source": f"{LORA_DIR}/{weight_name}", "scale": 1.0}]
    return write_style(styles_dir, draft, overwrite=True)
