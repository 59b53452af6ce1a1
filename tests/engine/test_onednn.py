"""oneDNN-packed weights on CPUs (generator.onednn): same results as the plain layers, repacked when a
style switch rewrites a weight, plain computation where packing cannot apply, on by default on CPUs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from generator.onednn import (
    OneDnnConv2d,
    OneDnnLinear,
    has_onednn_layers,
    onednn_packing_available,
    pack_for_onednn,
    unpack_onednn,
)
from generator.packing import repack_stale
from tests.engine.conftest import load_tiny_sticker_pipeline

pytestmark = pytest.mark.skipif(not onednn_packing_available(), reason="PyTorch without oneDNN packing")

DTYPES = [torch.float32] + ([torch.bfloat16] if onednn_packing_available(torch.bfloat16) else [])


def _model(dtype: torch.dtype) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(8, 16, 3, padding=1),
        nn.SiLU(),
        nn.Conv2d(16, 16, 3, stride=2, padding=1, groups=2),
        nn.Flatten(2),
        nn.Linear(16, 32),
        nn.GELU(),
        nn.Linear(32, 8, bias=False),
    ).to(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_packed_layers_compute_what_the_plain_ones_do(dtype: torch.dtype) -> None:
    plain, packed = _model(dtype), _model(dtype)
    assert pack_for_onednn(packed) == 4
    assert has_onednn_layers(packed) and not has_onednn_layers(plain)
    tolerance = 1e-5 if dtype == torch.float32 else 1e-2
    for shape in ((1, 8, 8, 8), (3, 8, 8, 8)):  # another batch than the one packed for
        x = torch.randn(*shape).to(dtype)
        with torch.inference_mode():
            expected, got = plain(x).float(), packed(x).float()
        assert got.shape == expected.shape
        assert torch.allclose(got, expected, rtol=tolerance, atol=tolerance)
    assert all(m.is_packed for m in packed.modules() if isinstance(m, OneDnnLinear | OneDnnConv2d))


@pytest.mark.parametrize("dtype", DTYPES)
def test_an_in_place_weight_change_repacks(dtype: torch.dtype) -> None:
    torch.manual_seed(1)
    linear, conv = nn.Linear(16, 8).to(dtype), nn.Conv2d(4, 4, 3, padding=1).to(dtype)
    model = nn.Sequential(linear, conv)
    pack_for_onednn(model)
    packed_linear, packed_conv = model[0], model[1]
    x, image = torch.randn(2, 16).to(dtype), torch.randn(1, 4, 6, 6).to(dtype)
    with torch.no_grad():
        packed_linear(x), packed_conv(image)
        linear.weight.mul_(-2.0)  # the shared master weight, written as LoRA fusion writes it
        conv.weight.add_(0.5)
        assert packed_linear.stale and packed_conv.stale
        assert repack_stale(model) == 2
        assert not packed_linear.stale and not packed_conv.stale
        tolerance = 1e-5 if dtype == torch.float32 else 5e-2
        assert torch.allclose(packed_linear(x).float(), linear(x).float(), atol=tolerance, rtol=tolerance)
        assert torch.allclose(packed_conv(image).float(), conv(image).float(), atol=tolerance, rtol=tolerance)


@pytest.mark.parametrize("dtype", DTYPES)
def test_geglu_fuses_its_gelu_and_product_into_the_packed_matmuls(dtype: torch.dtype) -> None:
    from diffusers.models.activations import GEGLU

    from generator.onednn import OneDnnGatedLinear, OneDnnGEGLU

    torch.manual_seed(2)
    plain = nn.Sequential(nn.LayerNorm(32), GEGLU(32, 48)).to(dtype)
    packed = nn.Sequential(nn.LayerNorm(32), GEGLU(32, 48)).to(dtype)
    packed.load_state_dict(plain.state_dict())
    pack_for_onednn(packed)
    assert isinstance(packed[1], OneDnnGEGLU) and isinstance(packed[1].proj, OneDnnGatedLinear)
    x = torch.randn(2, 7, 32).to(dtype)
    tolerance = 1e-5 if dtype == torch.float32 else 3e-2
    with torch.inference_mode():
        assert torch.allclose(packed(x).float(), plain(x).float(), atol=tolerance, rtol=tolerance)
        assert packed[1].proj.is_packed
    with torch.no_grad():  # a style switch rewrites the projection: both halves are repacked
        plain[1].proj.weight.mul_(1.5)
        packed[1].proj.weight.mul_(1.5)
        assert torch.allclose(packed(x).float(), plain(x).float(), atol=tolerance, rtol=tolerance)
    assert unpack_onednn(packed) == 1
    assert type(packed[1]) is GEGLU and type(packed[1].proj) is nn.Linear
    assert set(packed.state_dict()) == set(plain.state_dict())


def test_a_new_dtype_repacks_and_other_dtypes_compute_plainly() -> None:
    model = _model(torch.float32)
    pack_for_onednn(model)
    x = torch.randn(1, 8, 8, 8)
    with torch.inference_mode():
        model(x)
        if onednn_packing_available(torch.bfloat16):
            model.to(torch.bfloat16)
            assert all(m.stale for m in model.modules() if isinstance(m, OneDnnLinear | OneDnnConv2d))
            out = model(x.to(torch.bfloat16))
            assert out.dtype == torch.bfloat16
            model.to(torch.float32)
        # an input of another dtype than the weights (autocast's case) takes the plain path, as before
        with pytest.raises(RuntimeError):
            model(x.double())


def test_training_takes_the_plain_path_and_gets_gradients() -> None:
    model = _model(torch.float32)
    reference = _model(torch.float32)
    pack_for_onednn(model)
    x = torch.randn(2, 8, 8, 8)
    model(x).square().sum().backward()
    reference(x).square().sum().backward()
    for a, b in zip(model.parameters(), reference.parameters(), strict=True):
        assert a.grad is not None and torch.allclose(a.grad, b.grad, atol=1e-5)
    assert not any(m.is_packed for m in model.modules() if isinstance(m, OneDnnLinear | OneDnnConv2d))


def test_unpack_gives_back_plain_layers_sharing_the_weights() -> None:
    model = _model(torch.float32)
    weights = [p.data_ptr() for p in model.parameters()]
    pack_for_onednn(model, linears=False)
    assert [type(m) for m in model if isinstance(m, nn.Linear)] == [nn.Linear, nn.Linear]
    assert unpack_onednn(model) == 2
    assert not has_onednn_layers(model)
    assert [type(m) for m in model if isinstance(m, nn.Conv2d)] == [nn.Conv2d, nn.Conv2d]
    assert [p.data_ptr() for p in model.parameters()] == weights
    assert set(model.state_dict()) == set(_model(torch.float32).state_dict())


# --------------------------------------------------------------------------- the tiny pipeline
@pytest.fixture(scope="module")
def packed_and_plain(tiny_model_dir: Path, tiny_styles_dir: Path):
    return (
        load_tiny_sticker_pipeline(tiny_model_dir, tiny_styles_dir, precision="fp32"),
        load_tiny_sticker_pipeline(
            tiny_model_dir, tiny_styles_dir, precision="fp32", cpu_packed_weights=False
        ),
    )


ARGS = (["happy otter", "sad otter"], ["", ""], [7, 8], 1, 128, 128)


def _pixels(images) -> list[np.ndarray]:
    return [np.asarray(image.convert("RGBA"), dtype=np.int16) for image in images]


def _close(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return all(np.abs(x - y).max() <= 2 for x, y in zip(a, b, strict=True))


def test_cpu_pipelines_pack_by_default_and_the_switch_turns_it_off(packed_and_plain) -> None:
    packed, plain = packed_and_plain
    assert "onednn_packed" in packed.speedups and "onednn_packed" not in plain.speedups
    for model in (packed.pipe.unet, packed.pipe.text_encoder, packed.pipe.text_encoder_2):
        assert has_onednn_layers(model)
    assert not has_onednn_layers(packed.pipe.vae)  # measured slower packed (docs/performance/cpu.md)
    assert not has_onednn_layers(plain.pipe.unet)


def test_packed_pipeline_draws_the_plain_pipelines_stickers_through_style_switches(packed_and_plain) -> None:
    packed, plain = packed_and_plain
    packed.activate_style("plain")
    plain.activate_style("plain")
    base = _pixels(packed.run(*ARGS))
    assert _close(base, _pixels(plain.run(*ARGS)))
    for style in ("lora-a", "fusion", "lora-a"):
        packed.activate_style(style)
        plain.activate_style(style)
        layers = [m for m in packed.pipe.unet.modules() if isinstance(m, OneDnnLinear) and m.is_packed]
        assert layers and not any(m.stale for m in layers)  # repacked by the switch itself
        styled = _pixels(packed.run(*ARGS))
        assert _close(styled, _pixels(plain.run(*ARGS)))
        assert not _close(styled, base)  # the style did change the picture
    packed.activate_style("plain")
    assert _close(_pixels(packed.run(*ARGS)), base)


def test_config_key_is_validated(tmp_path) -> None:
    from bot.config import ConfigError, load_config

    path = tmp_path / "config.yaml"
    path.write_text("model:\n  cpu_packed_weights: sometimes\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"model\.cpu_packed_weights"):
        load_config(path, env={})


def test_auto_packs_only_when_the_copies_leave_as_much_memory_free(
    tiny_model_dir: Path, tiny_styles_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    import generator.model as model_module
    from generator.model import packed_weight_bytes, packing_fits

    assert packing_fits(needed=4, available=8) and not packing_fits(needed=5, available=8)
    layers = [nn.Sequential(nn.Linear(10, 20), nn.Conv2d(3, 4, 3), nn.LayerNorm(20)).to(torch.bfloat16)]
    assert packed_weight_bytes(layers, linears=True) == (200 + 108) * 2
    assert packed_weight_bytes(layers, linears=False) == 108 * 2

    monkeypatch.setattr(model_module, "available_memory_bytes", lambda: 1024)  # a server short of memory
    with caplog.at_level("WARNING", logger="generator.model"):
        short = load_tiny_sticker_pipeline(tiny_model_dir, tiny_styles_dir, precision="fp32")
    assert "onednn_packed" not in short.speedups and not has_onednn_layers(short.pipe.unet)
    assert "packed weights off" in caplog.text and "true forces them" in caplog.text
    forced = load_tiny_sticker_pipeline(
        tiny_model_dir, tiny_styles_dir, precision="fp32", cpu_packed_weights=True
    )
    assert "onednn_packed" in forced.speedups


@pytest.mark.parametrize(("text", "value"), [("auto", "auto"), ("true", True), ("false", False)])
def test_config_takes_auto_true_false(tmp_path, text: str, value: object) -> None:
    from bot.config import load_config

    path = tmp_path / "config.yaml"
    path.write_text(f"model:\n  cpu_packed_weights: {text}\n", encoding="utf-8")
    assert load_config(path, env={}).model.cpu_packed_weights == value
