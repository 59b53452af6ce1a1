"""The bench's CPU helpers: the OpenVINO peer's missing extra, AVX2 emulation flags, the CPU's peak."""

from __future__ import annotations

import sys

import pytest

from bench.cpu_limits import AVX2_ENV, effective_flags, emulating_avx2, peak_gflops
from bench.openvino_peer import OPENVINO_MISSING, PeerUnavailable, require_openvino


def test_missing_openvino_is_one_line_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino now raises ImportError
    with pytest.raises(PeerUnavailable) as info:
        require_openvino()
    assert str(info.value) == OPENVINO_MISSING
    assert "\n" not in OPENVINO_MISSING and "stickerbot[openvino]" in OPENVINO_MISSING


def test_avx2_emulation_hides_newer_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in AVX2_ENV.items():
        monkeypatch.setenv(key, value)
    assert emulating_avx2()
    flags = effective_flags()
    assert not any(f.startswith(("avx512", "amx")) or f == "bf16" for f in flags)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    assert not emulating_avx2()


def test_peak_follows_the_instructions_of_each_cpu_class() -> None:
    amx = {"avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16"}
    assert peak_gflops(amx, "bf16", 2, 2000) == 2 * 2 * 1024
    assert peak_gflops(amx, "fp32", 2, 2000) == 2 * 2 * 64
    assert peak_gflops(amx, "int8", 2, 2000) == 2 * 2 * 256
    avx2 = {"avx2", "fma"}
    assert peak_gflops(avx2, "fp32", 2, 2000) == 2 * 2 * 32
    assert peak_gflops(avx2, "bf16", 2, 2000) == 0
    assert peak_gflops(avx2, "int8", 2, 2000) == 2 * 2 * 128
