"""Exported LoRA files: diffusers and kohya layouts both load in plain diffusers and in the engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from diffusers import StableDiffusionXLPipeline
from diffusers.utils import convert_state_dict_to_kohya
from safetensors.torch import load_file

from generator.options import ModelConfig
from generator.pipeline import StickerPipeline
from generator.styles import StyleRegistry
from generator.training.errors import StudioError
from generator.training.export import StyleDraft, export_style, save_lora_file
from generator.training.fuse import fuse_styles
from generator.training.lora_io import canonical, to_diffusers
from tests.studio.helpers import PROMPT, SIZE, generate


def fresh_pipe(model_dir: Path) -> StableDiffusionXLPipeline:
    pipe = StableDiffusionXLPipeline.from_pretrained(model_dir, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_both_layouts_load_the_same_everywhere(
    tmp_path: Path, tiny_model_dir: Path, tiny_lora_files: list[Path]
) -> None:
    lora = load_file(str(tiny_lora_files[0]))
    styles = tmp_path / "styles"
    for fmt in ("diffusers", "kohya"):
        draft = StyleDraft(name=f"s-{fmt}", description=fmt, subject="otter", triggers=["dm"])
        export_style(styles, draft, lora, lora_format=fmt)  # type: ignore[arg-type]
    kohya_keys = load_file(str(styles / "loras" / "s-kohya.safetensors")).keys()
    assert all(k.startswith("lora_unet_") for k in kohya_keys) and any(
        k.endswith(".alpha") for k in kohya_keys
    )

    images = {}
    for fmt in ("diffusers", "kohya"):
        pipe = fresh_pipe(tiny_model_dir)
        pipe.load_lora_weights(str(styles / "loras"), weight_name=f"s-{fmt}.safetensors")
        images[fmt] = generate(pipe)
    np.testing.assert_allclose(images["kohya"], images["diffusers"], atol=1e-5)

    registry = StyleRegistry.load(styles, strict=True)
    engine = StickerPipeline.from_pipeline(fresh_pipe(tiny_model_dir), registry, ModelConfig(compile="off"))
    engine.activate_style("s-kohya")
    (image,) = engine.run([PROMPT], [""], [7], 1, SIZE, SIZE)
    np.testing.assert_allclose(np.asarray(image, dtype=np.float32) / 255, images["diffusers"], atol=2.5 / 255)

    # A kohya file (alphas and all) fuses exactly like its diffusers twin.
    baked = {}
    for fmt in ("diffusers", "kohya"):
        fuse_styles(registry, [(f"s-{fmt}", 0.5), ("s-diffusers" if fmt == "kohya" else "s-kohya", 0.5)],
                    name=f"f-{fmt}", styles_dir=styles, bake=True)  # fmt: skip
        baked[fmt] = load_file(str(styles / "loras" / f"f-{fmt}.safetensors"))
    for key, value in baked["diffusers"].items():
        np.testing.assert_allclose(baked["kohya"][key].numpy(), value.numpy(), atol=1e-6)


def test_lora_file_names_are_checked(tmp_path: Path, tiny_lora_files: list[Path]) -> None:
    lora = load_file(str(tiny_lora_files[0]))
    for name in ("../x.safetensors", "x.bin", "a/b.safetensors"):
        with pytest.raises(StudioError):
            save_lora_file(lora, tmp_path, name)
    with pytest.raises(StudioError, match="format"):
        save_lora_file(lora, tmp_path, "x.safetensors", "ckpt")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_kohya_alphas_scale_the_lora(tmp_path: Path, tiny_lora_files: list[Path]) -> None:
    """alpha/rank is folded in: a kohya file with alpha = rank/2 and doubled up-weights is the same LoRA."""
    diffusers_state = load_file(str(tiny_lora_files[0]))
    kohya = convert_state_dict_to_kohya(dict(diffusers_state))
    rescaled = {
        key: value / 2 if key.endswith(".alpha") else value * 2 if key.endswith("lora_up.weight") else value
        for key, value in kohya.items()
    }
    expected = to_diffusers(canonical(diffusers_state, label="d"))
    got = to_diffusers(canonical(rescaled, label="k"))
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        np.testing.assert_allclose(got[key].numpy(), value.numpy(), rtol=1e-6, atol=1e-7)
