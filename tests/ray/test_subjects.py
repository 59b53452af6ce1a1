"""Taught subjects drawn on the cluster: the LoRA travels by content (digest + object store), the
replica fuses "style+<sha256>" as the local engine does, bad files get one line, two servers' subjects
stay apart."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import shutil
from pathlib import Path

import pytest

from generator.api import GenerationRequest, GenerationResult, StyleError
from generator.engine import build_engine
from generator.options import EngineConfig, ModelConfig
from generator.serve.subjects import UNREADABLE
from generator.serve.wire import RemoteFailure, SubjectLora
from generator.subject_styles import subject_content_style_name
from tests.ray.test_generation import connected, replica_status

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(600)]

Configs = tuple[ModelConfig, EngineConfig]
BASE = GenerationRequest(prompt="waving, sks dog, sticker", style="otter", seed=11, width=64, height=64)


def server_subjects(tmp_path: Path, loras: list[Path]) -> tuple[Path, Path]:
    """Two servers that each taught a "dog": same file name, different LoRAs, different folders."""
    paths = []
    for server, lora in zip(("server-1", "server-2"), loras, strict=True):
        target = tmp_path / server / "dog.safetensors"
        target.parent.mkdir(parents=True)
        shutil.copyfile(lora, target)
        paths.append(target)
    return paths[0], paths[1]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def draw_locally(configs: Configs, requests: list[GenerationRequest]) -> list[GenerationResult]:
    model, engine_cfg = configs
    local = build_engine(model, engine_cfg.model_copy(update={"backend": "local", "max_wait_ms": 0.0}))
    await local.start()
    try:
        return [await local.generate(request) for request in requests]
    finally:
        await local.close()


async def test_a_taught_subject_is_drawn_on_the_cluster_as_the_local_engine_draws_it(
    main_app: Configs, tiny_lora_files: list[Path], tmp_path: Path
) -> None:
    model, engine_cfg = main_app
    first, second = server_subjects(tmp_path, tiny_lora_files)
    requests = [
        BASE,
        dataclasses.replace(BASE, subject_lora=str(first)),
        dataclasses.replace(BASE, subject_lora=str(second)),
        dataclasses.replace(BASE, subject_lora=str(first)),
    ]
    engine = await connected(model, engine_cfg)
    try:
        via_ray = [await engine.generate(request) for request in requests]
        status = await replica_status(engine)
        assert engine._subjects.reads == 2  # each subject file read and put once
    finally:
        await engine.close()
    plain, dog_1, dog_2, dog_1_again = (r.stickers[0].webp for r in via_ray)
    assert dog_1 != plain and dog_2 != plain  # the subject LoRA changed the drawing
    assert dog_1 != dog_2  # the two servers' dogs are two styles, never one
    assert dog_1_again == dog_1
    assert via_ray[1].request.subject_lora == str(first)  # the caller's request comes back
    names = {subject_content_style_name("otter", sha256(p)) for p in (first, second)}
    assert names <= set(status.hot_styles)  # fused as "otter+<sha256>", the multiplexed model id

    via_local = await draw_locally(main_app, requests)
    assert [r.stickers[0].webp for r in via_ray] == [r.stickers[0].webp for r in via_local]


async def test_a_broken_subject_lora_gets_one_clear_line(
    main_app: Configs, tiny_lora_files: list[Path], tmp_path: Path
) -> None:
    model, engine_cfg = main_app
    text = tmp_path / "text.safetensors"
    text.write_text("this is not a LoRA\n", encoding="utf-8")
    pickle = tmp_path / "dog.bin"
    pickle.write_bytes(tiny_lora_files[0].read_bytes())
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(tiny_lora_files[0].read_bytes()[:-100])
    engine = await connected(model, engine_cfg)
    try:
        for bad in (text, pickle, truncated, tmp_path / "missing.safetensors"):
            with pytest.raises(StyleError) as refused:
                await engine.generate(dataclasses.replace(BASE, subject_lora=str(bad)))
            assert refused.value.user_message == UNREADABLE, bad
        assert engine._subjects.reads == 0  # nothing bad was put in the object store

        # The replica checks what arrives: bytes that do not match their digest are refused there.
        import ray

        data = tiny_lora_files[0].read_bytes()
        forged = SubjectLora(digest="0" * 64, size=len(data), data=ray.put(data))
        name = subject_content_style_name("otter", forged.digest)
        out = await engine._handle.options(multiplexed_model_id=name).generate.remote(BASE, forged)
        assert isinstance(out, RemoteFailure) and out.user_message == UNREADABLE
        assert "digest" in (out.detail or "")

        # A well-formed safetensors file that is no LoRA of this model: the replica's fusion says so.
        from safetensors.numpy import save_file

        alien = tmp_path / "alien.safetensors"
        await asyncio.to_thread(
            save_file,
            {"unet.nowhere.lora_A.weight": _zeros(4, 8), "unet.nowhere.lora_B.weight": _zeros(8, 4)},
            str(alien),
        )
        with pytest.raises(StyleError) as refused:
            await engine.generate(dataclasses.replace(BASE, subject_lora=str(alien)))
        assert "\n" not in refused.value.user_message and "subject" in refused.value.user_message
        after = await engine.generate(BASE)  # the replica goes on drawing
        assert after.stickers
    finally:
        await engine.close()


def _zeros(rows: int, cols: int):  # type: ignore[no-untyped-def]
    import numpy as np

    return np.zeros((rows, cols), dtype=np.float32)
