"""The int8 CPU path (generator.int8): precision choice per CPU, generation, styles, closeness to fp32."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from generator.api import GeneratorError
from generator.int8 import Int8Linear, int8_kernels_available
from generator.model import choose_cpu_precision, cpu_flags
from tests.engine.conftest import load_tiny_sticker_pipeline

pytestmark = pytest.mark.skipif(not int8_kernels_available(), reason="PyTorch without x86 int8 kernels")

AMX = {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_int8", "avx512_vnni"}
AVX512_BF16 = {"avx2", "avx512f", "avx512_bf16", "avx512_vnni"}
AVX512_NO_BF16 = {"avx2", "avx512f", "avx512_vnni"}
AVX2_ONLY = {"sse4_2", "avx", "avx2", "fma"}
OLD_X86 = {"sse4_2", "avx"}


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def _pixels(images) -> list[np.ndarray]:
    return [np.asarray(image.convert("RGB"), dtype=np.uint8) for image in images]


# --------------------------------------------------------------------------- choice per CPU class
@pytest.mark.parametrize(
    ("flags", "dtype", "int8", "words"),
    [
        (AMX, torch.bfloat16, False, "AMX"),
        (AVX512_BF16, torch.bfloat16, False, "AVX512-BF16"),
        (AVX512_NO_BF16, torch.float32, True, "int8"),
        (AVX2_ONLY, torch.float32, True, "AVX2"),
        (OLD_X86, torch.float32, False, "fp32"),
    ],
)
def test_auto_precision_per_cpu_class(flags: set[str], dtype: torch.dtype, int8: bool, words: str) -> None:
    chosen_dtype, chosen_int8, reason = choose_cpu_precision("auto", flags, int8_kernels=True)
    assert (chosen_dtype, chosen_int8) == (dtype, int8)
    assert words in reason and "auto" in reason


def test_auto_without_int8_kernels_falls_back_to_fp32() -> None:
    assert choose_cpu_precision("auto", AVX2_ONLY, int8_kernels=False)[:2] == (torch.float32, False)


def test_explicit_precision_wins_and_says_so() -> None:
    assert choose_cpu_precision("int8", AMX, int8_kernels=True)[:2] == (torch.float32, True)
    assert choose_cpu_precision("fp32", AMX, int8_kernels=True)[:2] == (torch.float32, False)
    dtype, int8, reason = choose_cpu_precision("bf16", AVX2_ONLY, int8_kernels=True)
    assert (dtype, int8) == (torch.bfloat16, False) and "emulated" in reason


def test_int8_without_kernels_is_one_clear_line() -> None:
    with pytest.raises(GeneratorError) as info:
        choose_cpu_precision("int8", AVX2_ONLY, int8_kernels=False)
    assert "\n" not in info.value.user_message and "int8" in info.value.user_message


def test_cpu_flags_reads_x86_and_arm_cpuinfo() -> None:
    assert cpu_flags("processor : 0\nflags\t\t: fpu avx2 amx_bf16\n") == {"fpu", "avx2", "amx_bf16"}
    assert "bf16" in cpu_flags("Features\t: fp asimd bf16\n")


def test_unknown_precision_is_refused_by_the_config(tmp_path) -> None:
    from bot.config import ConfigError, load_config

    path = tmp_path / "config.yaml"
    path.write_text("model:\n  precision: int4\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"model\.precision.*auto.*int8"):
        load_config(path, env={})


# --------------------------------------------------------------------------- the tiny model in int8
@pytest.fixture(scope="module")
def int8_and_fp32(tiny_model_dir: Path, tiny_styles_dir: Path):
    return (
        load_tiny_sticker_pipeline(tiny_model_dir, tiny_styles_dir, precision="int8"),
        load_tiny_sticker_pipeline(tiny_model_dir, tiny_styles_dir, precision="fp32"),
    )


ARGS = (["happy otter", "sad otter"], ["", ""], [7, 8], 1, 128, 128)


def test_int8_path_loads_with_int8_linears(int8_and_fp32) -> None:
    int8, fp32 = int8_and_fp32
    assert int8.choice.int8 and int8.choice.precision == "int8" and "int8" in int8.speedups
    assert not fp32.choice.int8 and "int8" not in fp32.speedups
    for model in (int8.pipe.unet, int8.pipe.text_encoder, int8.pipe.text_encoder_2):
        layers = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
        assert layers and all(isinstance(m, Int8Linear) for m in layers)
    assert not any(isinstance(m, Int8Linear) for m in fp32.pipe.unet.modules())


def test_int8_sticker_is_close_to_fp32_for_the_same_seed(int8_and_fp32) -> None:
    int8, fp32 = int8_and_fp32
    for pipe in (int8, fp32):
        pipe.activate_style("plain")
    for a, b in zip(_pixels(int8.run(*ARGS)), _pixels(fp32.run(*ARGS)), strict=True):
        assert _psnr(a, b) >= 30.0


def test_styles_switch_on_the_int8_path(int8_and_fp32) -> None:
    int8, fp32 = int8_and_fp32
    int8.activate_style("plain")
    plain = _pixels(int8.run(*ARGS))
    for style in ("lora-a", "fusion", "lora-a"):
        int8.activate_style(style)
        fp32.activate_style(style)
        packed = [m for m in int8.pipe.unet.modules() if isinstance(m, Int8Linear) and m._packed is not None]
        assert packed and not any(m.stale for m in packed)  # re-quantized by the switch itself
        styled, reference = _pixels(int8.run(*ARGS)), _pixels(fp32.run(*ARGS))
        for a, b in zip(styled, reference, strict=True):
            assert _psnr(a, b) >= 30.0
        assert any(_psnr(a, b) < 40.0 for a, b in zip(styled, plain, strict=True))
    int8.activate_style("plain")  # back to the base weights: the plain images again
    for a, b in zip(_pixels(int8.run(*ARGS)), plain, strict=True):
        assert np.array_equal(a, b)


def test_rerolls_reuse_prompt_embeddings_on_the_int8_path(int8_and_fp32) -> None:
    int8, _ = int8_and_fp32
    int8.activate_style("plain")
    int8.prompt_cache.clear()
    int8.run(["waving otter"], [""], [1], 1, 64, 64)
    hits, misses = int8.prompt_cache.hits, int8.prompt_cache.misses
    int8.run(["waving otter"] * 4, [""] * 4, [2, 3, 4, 5], 1, 64, 64)  # "4 more": looked up once
    assert (int8.prompt_cache.hits, int8.prompt_cache.misses) == (hits + 1, misses)
    int8.run(["waving otter"], [""], [6], 1, 64, 64)  # a reroll
    assert (int8.prompt_cache.hits, int8.prompt_cache.misses) == (hits + 2, misses)


def test_int8_linear_repacks_after_an_in_place_weight_change() -> None:
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 32)
    layer = Int8Linear.from_linear(linear)
    x = torch.randn(3, 64)
    with torch.no_grad():
        assert torch.allclose(layer(x), linear(x), atol=0.05)
        linear.weight.mul_(2.0)  # shared weight, as LoRA fusion writes it
        assert layer.stale
        assert torch.allclose(layer(x), linear(x), atol=0.1)
        assert not layer.stale


def test_fp32_reference_and_dequantize_give_back_plain_linears() -> None:
    from generator.int8 import dequantize_linears, fp32_reference, quantize_linears

    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.GELU(), torch.nn.Linear(16, 4))
    x = torch.randn(2, 16)
    with torch.no_grad():
        reference = model(x)
        assert quantize_linears(model) == 2
        with fp32_reference():
            assert torch.equal(model(x), reference)
        assert not torch.equal(model(x), reference)  # int8 really computes differently
        assert dequantize_linears(model) == 2
        assert not any(isinstance(m, Int8Linear) for m in model.modules())
        assert torch.equal(model(x), reference)


# --------------------------------------------------------------- start-up probe (AVX512-BF16, no AMX)
def test_probe_settles_auto_on_a_bf16_cpu_without_amx() -> None:
    asked: list[list[str]] = []

    def probe(candidates: list[str]) -> dict[str, float]:
        asked.append(candidates)
        return {"bf16": 210.0, "fp32": 280.0, "int8": 640.0}  # an Intel core kept off its AMX tiles

    dtype, int8, reason = choose_cpu_precision("auto", AVX512_BF16, int8_kernels=True, probe=probe)
    assert (dtype, int8) == (torch.float32, True)
    assert asked == [["bf16", "fp32", "int8"]]
    assert "measured at start-up" in reason and "int8 640" in reason and "bf16 210" in reason

    def bf16_fast(candidates: list[str]) -> dict[str, float]:
        return {"bf16": 900.0, "fp32": 300.0, "int8": 950.0}  # within 10 %: bf16 (no accuracy cost)

    assert choose_cpu_precision("auto", AVX512_BF16, True, probe=bf16_fast)[:2] == (torch.bfloat16, False)
    no_int8 = choose_cpu_precision("auto", AVX512_BF16, False, probe=lambda c: {k: 100.0 for k in c})
    assert no_int8[:2] == (torch.bfloat16, False)


@pytest.mark.parametrize("flags", [AMX, AVX2_ONLY, OLD_X86])
def test_flags_decide_without_a_probe_where_they_are_clear(flags: set[str]) -> None:
    def probe(candidates: list[str]) -> dict[str, float]:
        raise AssertionError("no measurement needed on this CPU class")

    with_probe = choose_cpu_precision("auto", flags, int8_kernels=True, probe=probe)
    assert with_probe == choose_cpu_precision("auto", flags, int8_kernels=True)
    assert choose_cpu_precision("fp32", AVX512_BF16, True, probe=probe)[:2] == (torch.float32, False)


def test_pick_precision_prefers_bf16_then_fp32_over_a_small_int8_gain() -> None:
    from generator.cpu_probe import pick_precision

    assert pick_precision({"bf16": 95.0, "fp32": 50.0, "int8": 100.0}) == "bf16"
    assert pick_precision({"bf16": 50.0, "fp32": 100.0, "int8": 110.0}) == "fp32"
    assert pick_precision({"bf16": 50.0, "fp32": 100.0, "int8": 130.0}) == "int8"
    assert pick_precision({"bf16": 50.0, "fp32": 100.0}) == "fp32"


def test_the_real_probe_times_each_candidate() -> None:
    from generator.cpu_probe import probe_linear_speeds
    from generator.onednn import onednn_packing_available

    candidates = ["fp32", "int8"] + (["bf16"] if onednn_packing_available(torch.bfloat16) else [])
    speeds = probe_linear_speeds(candidates, repeats=2)
    assert set(speeds) == set(candidates)
    assert all(math.isfinite(v) and v > 0 for v in speeds.values())
