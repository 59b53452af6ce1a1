"""LoRA styles: validation of files, fusion into the weights, switching, and fused ≈ unfused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionXLPipeline
from safetensors.torch import save_file

from generator.api import StyleError
from generator.lora import read_lora_file
from generator.lora_files import random_lora_state_dict
from generator.options import ModelConfig
from generator.pipeline import StickerPipeline
from generator.styles import StyleRegistry

PROMPT = "happy, otter, dm-sticker"
SIZE = 128


def pixels(image) -> np.ndarray:
    return np.asarray(image).astype(np.float64)


def render(sp: StickerPipeline, style: str, seed: int = 7) -> np.ndarray:
    sp.activate_style(style)
    return pixels(sp.run([PROMPT], [""], [seed], 1, SIZE, SIZE)[0])


def unet_weights(sp: StickerPipeline) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in sp.pipe.unet.named_parameters()}


# --------------------------------------------------------------------------- fusion
def test_fusion_changes_the_output(tiny_sticker_pipeline: StickerPipeline) -> None:
    plain = render(tiny_sticker_pipeline, "plain")
    one = render(tiny_sticker_pipeline, "lora-a")
    two = render(tiny_sticker_pipeline, "fusion")
    assert np.abs(plain - one).mean() > 1.0
    assert np.abs(one - two).mean() > 1.0


@pytest.mark.filterwarnings("ignore:Already found a `peft_config`")  # two adapters on purpose
def test_fused_style_matches_the_same_loras_unfused(
    tiny_sticker_pipeline: StickerPipeline, tiny_model_dir: Path, tiny_lora_files: list[Path]
) -> None:
    fused = render(tiny_sticker_pipeline, "fusion")

    reference = StableDiffusionXLPipeline.from_pretrained(tiny_model_dir, local_files_only=True)
    reference.set_progress_bar_config(disable=True)
    reference.load_lora_weights(str(tiny_lora_files[0]), adapter_name="a")
    reference.load_lora_weights(str(tiny_lora_files[1]), adapter_name="b")
    reference.set_adapters(["a", "b"], adapter_weights=[0.7, 0.5])  # as styles' fusion.yaml says
    unfused = reference(
        PROMPT,
        num_inference_steps=1,
        guidance_scale=0.0,
        width=SIZE,
        height=SIZE,
        generator=[torch.Generator().manual_seed(7)],
    ).images[0]
    difference = np.abs(fused - pixels(unfused))
    assert difference.mean() < 0.05
    assert difference.max() <= 2.0


def test_switching_back_restores_the_base_weights_exactly(tiny_sticker_pipeline: StickerPipeline) -> None:
    sp = tiny_sticker_pipeline
    sp.activate_style("plain")
    base = unet_weights(sp)
    assert sp.activate_style("fusion") >= 0.0
    assert sp.active_style == "fusion"
    assert sp.activate_style("fusion") == 0.0  # already active: no work
    changed = unet_weights(sp)
    assert any(not torch.equal(base[name], changed[name]) for name in base)
    sp.activate_style("lora-a")
    sp.activate_style("plain")
    restored = unet_weights(sp)
    assert all(torch.equal(base[name], restored[name]) for name in base)


def test_hot_and_cold_switches_give_the_same_weights(
    tiny_model_dir: Path, tiny_styles_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = ModelConfig(path=str(tiny_model_dir), device="cpu", dtype="float32")
    registry = StyleRegistry.load(tiny_styles_dir)
    results = []
    for hot in (0, 2):
        sp = StickerPipeline.load(cfg, registry, hot_styles=hot)
        for style in ("fusion", "lora-a", "fusion", "plain", "lora-a"):
            sp.activate_style(style)
        results.append(unet_weights(sp))
    cold, hot_weights = results
    assert all(torch.equal(cold[name], hot_weights[name]) for name in cold)


def test_fused_qkv_projection_follows_the_fused_lora(tiny_sticker_pipeline: StickerPipeline) -> None:
    sp = tiny_sticker_pipeline
    sp.activate_style("fusion")
    attn = sp.pipe.unet.down_blocks[1].attentions[0].transformer_blocks[0].attn1
    assert getattr(attn, "fused_projections", False)
    assert torch.equal(attn.to_qkv.weight, torch.cat([attn.to_q.weight, attn.to_k.weight, attn.to_v.weight]))
    cross = sp.pipe.unet.down_blocks[1].attentions[0].transformer_blocks[0].attn2
    fused_kv = cross.to_kv.weight.clone()
    assert torch.equal(fused_kv, torch.cat([cross.to_k.weight, cross.to_v.weight]))
    sp.activate_style("plain")
    assert not torch.equal(cross.to_kv.weight, fused_kv)  # back to the base weights
    assert torch.equal(cross.to_kv.weight, torch.cat([cross.to_k.weight, cross.to_v.weight]))


# --------------------------------------------------------------------------- availability and bad files
def test_unreachable_hub_lora_makes_only_that_style_unavailable(
    tiny_sticker_pipeline: StickerPipeline,
) -> None:
    sp = tiny_sticker_pipeline
    assert set(sp.unavailable) == {"offline-hub"}
    assert "offline-hub" not in sp.available_styles() and "fusion" in sp.available_styles()
    with pytest.raises(StyleError) as info:
        sp.activate_style("offline-hub")
    assert info.value.user_message == "The style 'offline-hub' is unavailable right now."
    reason = info.value.detail or ""  # for the operator's log: what is missing and how to get it
    assert "hf download stickerbot-tests/not-a-real-repo lora.safetensors" in reason
    assert render(sp, "fusion").std() > 1.0  # the others keep working


def test_non_safetensors_lora_is_refused(tmp_path: Path) -> None:
    pickle_file = tmp_path / "evil.ckpt"
    pickle_file.write_bytes(b"\x80\x04not loaded")
    with pytest.raises(StyleError, match=r"LoRA evil\.ckpt: only \.safetensors"):
        read_lora_file(pickle_file)


def test_corrupt_lora_is_refused(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    with pytest.raises(StyleError, match=r"LoRA corrupt\.safetensors: not a safetensors file"):
        read_lora_file(corrupt)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(b"\x01\x02")
    with pytest.raises(StyleError, match="too short"):
        read_lora_file(truncated)
    with pytest.raises(StyleError, match="file not found"):
        read_lora_file(tmp_path / "missing.safetensors")


def test_oversized_lora_is_refused(tiny_lora_files: list[Path]) -> None:
    with pytest.raises(StyleError, match=r"tiny-lora-a\.safetensors: .* larger than"):
        read_lora_file(tiny_lora_files[0], max_bytes=1024)


def _pipeline_with_style(
    tiny_model_dir: Path, tmp_path: Path, lora: dict[str, torch.Tensor]
) -> StickerPipeline:
    save_file(lora, str(tmp_path / "odd.safetensors"))
    (tmp_path / "odd.yaml").write_text(
        "name: odd\ndescription: x\nloras:\n  - source: odd.safetensors\n", encoding="utf-8"
    )
    cfg = ModelConfig(path=str(tiny_model_dir), device="cpu", dtype="float32")
    return StickerPipeline.load(cfg, StyleRegistry.load(tmp_path))


def test_lora_for_another_base_model_is_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    pipe = StableDiffusionXLPipeline.from_pretrained(tiny_model_dir, local_files_only=True)
    wrong_shapes = {
        key: torch.zeros(tensor.shape[0] * 2, tensor.shape[1] * 2)
        for key, tensor in random_lora_state_dict(pipe.unet, rank=2).items()
    }
    sp = _pipeline_with_style(tiny_model_dir, tmp_path, wrong_shapes)
    with pytest.raises(StyleError, match=r"LoRA odd\.safetensors does not fit this model"):
        sp.activate_style("odd")


def test_lora_with_unknown_layers_is_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    foreign = {
        "unet.no_such_block.to_q.lora_A.weight": torch.zeros(2, 32),
        "unet.no_such_block.to_q.lora_B.weight": torch.zeros(32, 2),
    }
    sp = _pipeline_with_style(tiny_model_dir, tmp_path, foreign)
    assert "odd" in sp.unavailable
    assert "LoRA odd.safetensors does not fit this model" in (sp.unavailable["odd"].detail or "")


def test_switch_cost_tool_prints_both_strategies(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.switch_cost import main

    assert main(["--switches", "2", "--device", "cpu", "--dtype", "float32"]) == 0
    out = capsys.readouterr().out
    assert "hot_styles=0" in out and "hot_styles=2" in out and "rank-4" in out


def test_kohya_format_lora_with_alpha_is_converted(tiny_model_dir: Path) -> None:
    # Many hub LoRAs (A1111/kohya) use lora_unet_* keys, lora_down/lora_up and a per-layer alpha.
    from generator.lora import extract_style_weights

    pipe = StableDiffusionXLPipeline.from_pretrained(tiny_model_dir, local_files_only=True)
    peft = random_lora_state_dict(pipe.unet, rank=4, seed=3, std=0.3)
    kohya: dict[str, torch.Tensor] = {}
    for key, tensor in peft.items():
        module, _, part = key.removeprefix("unet.").rpartition(".lora_")
        name = "lora_unet_" + module.replace(".", "_")
        if part == "A.weight":
            kohya[f"{name}.lora_down.weight"] = tensor
            kohya[f"{name}.alpha"] = torch.tensor(2.0)  # alpha / rank = 0.5
        else:
            kohya[f"{name}.lora_up.weight"] = tensor
    weights = extract_style_weights(pipe, "kohya", [("kohya.safetensors", kohya, 0.8)])
    assert len(weights.layers) == len(peft) // 2
    layer = "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k"
    delta = weights.layers[("unet", layer)]
    got = sum(up @ down for up, down in zip(delta.ups, delta.downs, strict=True))
    expected = 0.8 * 0.5 * peft[f"unet.{layer}.lora_B.weight"] @ peft[f"unet.{layer}.lora_A.weight"]
    assert torch.allclose(got, expected, atol=1e-6)
    from peft.tuners.lora import LoraLayer

    assert not any(isinstance(m, LoraLayer) for m in pipe.unet.modules())  # adapters removed again
