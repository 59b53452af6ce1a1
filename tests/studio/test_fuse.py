"""Fusing styles: equal to loading the LoRAs with those weights; LoRAs that do not fit are named."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel
from safetensors.torch import load_file, save_file

from generator.api import GeneratorError
from generator.lora_files import write_random_lora
from generator.options import ModelConfig
from generator.pipeline import StickerPipeline
from generator.styles import StyleRegistry
from generator.tiny import build_tiny_unet
from generator.training.errors import LoraMismatch, StudioError
from generator.training.fuse import fuse_styles, parse_weighted
from tests.studio.helpers import PROMPT, SIZE, generate


def write_style(styles: Path, name: str, lora: str, *, subject: str = "otter", trigger: str = "dm") -> None:
    data = {
        "name": name,
        "description": f"{name} test style",
        "trigger": trigger,
        "subject": subject,
        "background": "green",
        "loras": [{"source": lora, "scale": 1.0}],
    }
    (styles / f"{name}.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")


@pytest.fixture
def styles_dir(tmp_path: Path, tiny_lora_files: list[Path]) -> Path:
    styles = tmp_path / "styles"
    (styles / "loras").mkdir(parents=True)
    for name, source in zip(("otter", "rabbit"), tiny_lora_files, strict=True):
        shutil.copy(source, styles / "loras" / f"{name}.safetensors")
        write_style(styles, name, f"loras/{name}.safetensors", subject=name, trigger=f"{name}-trigger")
    return styles


def fresh_pipe(model_dir: Path) -> StableDiffusionXLPipeline:
    pipe = StableDiffusionXLPipeline.from_pretrained(model_dir, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_fusion_equals_loading_both_loras_with_those_weights(styles_dir: Path, tiny_model_dir: Path) -> None:
    registry = StyleRegistry.load(styles_dir, strict=True)
    weighted = parse_weighted(["otter:0.7", "rabbit:0.5"])
    listed = fuse_styles(registry, weighted, name="otbit", styles_dir=styles_dir, model_path=tiny_model_dir)
    baked = fuse_styles(
        registry, weighted, name="otbit-baked", styles_dir=styles_dir, model_path=tiny_model_dir, bake=True
    )
    assert [(ref.local_path.name, ref.scale) for ref in listed.loras] == [  # type: ignore[union-attr]
        ("otter.safetensors", 0.7),
        ("rabbit.safetensors", 0.5),
    ]
    assert listed.triggers == ("otter-trigger", "rabbit-trigger") and listed.subject == "otter"
    assert [ref.local_path.name for ref in baked.loras] == ["otbit-baked.safetensors"]  # type: ignore[union-attr]

    reference_pipe = fresh_pipe(tiny_model_dir)
    base = generate(reference_pipe)
    reference_pipe.load_lora_weights(
        str(styles_dir / "loras"), weight_name="otter.safetensors", adapter_name="o"
    )
    reference_pipe.load_lora_weights(
        str(styles_dir / "loras"), weight_name="rabbit.safetensors", adapter_name="r"
    )
    reference_pipe.set_adapters(["o", "r"], adapter_weights=[0.7, 0.5])
    reference = generate(reference_pipe)
    assert np.abs(reference - base).max() > 0.05

    baked_pipe = fresh_pipe(tiny_model_dir)
    baked_pipe.load_lora_weights(str(styles_dir / "loras"), weight_name="otbit-baked.safetensors")
    np.testing.assert_allclose(generate(baked_pipe), reference, atol=2e-3)

    engine = StickerPipeline.from_pipeline(
        fresh_pipe(tiny_model_dir), StyleRegistry.load(styles_dir, strict=True), ModelConfig(compile="off")
    )
    for name in ("otbit", "otbit-baked"):
        engine.activate_style(name)
        (image,) = engine.run([PROMPT], [""], [7], 1, SIZE, SIZE)
        np.testing.assert_allclose(np.asarray(image, dtype=np.float32) / 255, reference, atol=2.5 / 255)


def test_baked_lora_is_the_exact_weighted_sum(styles_dir: Path, tiny_model_dir: Path) -> None:
    registry = StyleRegistry.load(styles_dir, strict=True)
    fuse_styles(registry, [("otter", 0.7), ("rabbit", -0.5)], name="mix", styles_dir=styles_dir, bake=True)
    otter = load_file(str(styles_dir / "loras/otter.safetensors"))
    rabbit = load_file(str(styles_dir / "loras/rabbit.safetensors"))
    mixed = load_file(str(styles_dir / "loras/mix.safetensors"))
    module = next(k for k in otter if k.endswith("lora_A.weight")).removesuffix(".lora_A.weight")

    def delta(state: dict[str, torch.Tensor]) -> torch.Tensor:
        return state[f"{module}.lora_B.weight"] @ state[f"{module}.lora_A.weight"]

    torch.testing.assert_close(delta(mixed), 0.7 * delta(otter) - 0.5 * delta(rabbit), rtol=1e-5, atol=1e-6)
    assert mixed[f"{module}.lora_A.weight"].shape[0] == 4 + 8  # ranks stacked


# --------------------------------------------------------------------------- bad input
def alien_lora(path: Path) -> Path:
    """A LoRA for a UNet with another text width (cross-attention 48 instead of 64)."""
    config = dict(build_tiny_unet().config)
    config["cross_attention_dim"] = 48
    return write_random_lora(path, UNet2DConditionModel.from_config(config), rank=4, seed=3)


@pytest.mark.parametrize("model", [True, False], ids=["against-model", "against-each-other"])
def test_a_lora_for_another_base_model_is_named(styles_dir: Path, tiny_model_dir: Path, model: bool) -> None:
    alien_lora(styles_dir / "loras" / "alien.safetensors")
    write_style(styles_dir, "alien", "loras/alien.safetensors")
    registry = StyleRegistry.load(styles_dir, strict=True)
    with pytest.raises(LoraMismatch, match=r"alien\.safetensors \(style 'alien'\).*different base model"):
        fuse_styles(
            registry,
            [("otter", 1.0), ("alien", 1.0)],
            name="bad",
            styles_dir=styles_dir,
            model_path=tiny_model_dir if model else None,
        )
    assert not (styles_dir / "bad.yaml").exists()


def test_a_lora_targeting_missing_modules_is_named(styles_dir: Path, tiny_model_dir: Path) -> None:
    state = load_file(str(styles_dir / "loras/rabbit.safetensors"))
    renamed = {k.replace("unet.down_blocks.1", "unet.down_blocks.7"): v for k, v in state.items()}
    save_file(renamed, str(styles_dir / "loras/other.safetensors"))
    write_style(styles_dir, "other", "loras/other.safetensors")
    registry = StyleRegistry.load(styles_dir, strict=True)
    with pytest.raises(LoraMismatch, match=r"other\.safetensors \(style 'other'\).*does not have"):
        fuse_styles(
            registry,
            [("otter", 1), ("other", 1)],
            name="bad",
            styles_dir=styles_dir,
            model_path=tiny_model_dir,
        )


def test_non_safetensors_loras_are_refused(styles_dir: Path) -> None:
    (styles_dir / "loras" / "pickled.bin").write_bytes(b"\x80\x04K\x01.")
    write_style(styles_dir, "pickled", "loras/pickled.bin")
    (styles_dir / "loras" / "fake.safetensors").write_bytes(b"\x80\x04\x95 not safetensors at all")
    write_style(styles_dir, "fake", "loras/fake.safetensors")
    registry = StyleRegistry.load(styles_dir)
    with pytest.raises(GeneratorError, match=r"\.safetensors"):
        fuse_styles(registry, [("otter", 1), ("pickled", 1)], name="bad", styles_dir=styles_dir)
    with pytest.raises(GeneratorError, match=r"fake\.safetensors: not a safetensors file"):
        fuse_styles(registry, [("otter", 1), ("fake", 1)], name="bad", styles_dir=styles_dir)


@pytest.mark.parametrize("name", ["../evil", "Evil", "a/b", "x" * 33, ""])
def test_unsafe_names_are_refused(styles_dir: Path, name: str) -> None:
    registry = StyleRegistry.load(styles_dir, strict=True)
    with pytest.raises(StudioError, match="Invalid style name"):
        fuse_styles(registry, [("otter", 1), ("rabbit", 1)], name=name, styles_dir=styles_dir)
    assert sorted(p.name for p in styles_dir.parent.iterdir()) == ["styles"]


def test_existing_styles_are_kept_unless_forced(styles_dir: Path) -> None:
    registry = StyleRegistry.load(styles_dir, strict=True)
    with pytest.raises(StudioError, match="already exists"):
        fuse_styles(registry, [("otter", 1), ("rabbit", 1)], name="otter", styles_dir=styles_dir)
    spec = fuse_styles(
        registry,
        [("otter", 1), ("rabbit", 1)],
        name="otter",
        styles_dir=styles_dir,
        overwrite=True,
        subject="otbit",
    )
    assert spec.subject == "otbit" and len(spec.loras) == 2


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["otter"], "at least two"),
        (["otter:x", "rabbit"], "STYLE:WEIGHT"),
        (["otter:9", "rabbit"], "outside"),
        (["otter", "otter:2"], "only once"),
    ],
)
def test_weighted_style_arguments(items: list[str], message: str) -> None:
    with pytest.raises(StudioError, match=message):
        parse_weighted(items)
