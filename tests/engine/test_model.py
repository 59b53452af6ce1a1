"""Model loading on the tiny pipeline: from_pretrained, device/dtype choice, missing models, determinism."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionXLPipeline

from bot.cli import main as cli_main
from generator.api import GenerationFailed, GeneratorError, ModelMissing, UnknownStyle
from generator.model import choose_device, cpu_has_native_bf16, load_pipeline
from generator.options import ModelConfig


def pixels(image) -> np.ndarray:
    return np.asarray(image).astype(np.float64)


def test_tiny_pipeline_loads_with_from_pretrained_and_generates(tiny_model_dir: Path) -> None:
    pipe = StableDiffusionXLPipeline.from_pretrained(tiny_model_dir, local_files_only=True)
    assert pipe.unet.config.addition_embed_type == "text_time"
    assert pipe.scheduler.config.timestep_spacing == "trailing"
    pipe.set_progress_bar_config(disable=True)
    image = pipe("happy otter", num_inference_steps=1, guidance_scale=0.0, width=128, height=128).images[0]
    assert image.size == (128, 128)
    assert pixels(image).std() > 1.0  # a real picture, not a blank


def test_load_pipeline_applies_config(tiny_model_dir: Path) -> None:
    cfg = ModelConfig(path=str(tiny_model_dir), device="cpu", dtype="bfloat16")
    loaded = load_pipeline(cfg)
    assert loaded.choice.dtype == torch.bfloat16
    assert loaded.pipe.unet.dtype == torch.bfloat16
    assert isinstance(loaded.pipe.scheduler, EulerAncestralDiscreteScheduler)
    assert loaded.pipe.scheduler.config.timestep_spacing == "trailing"
    assert {"sdpa", "fuse_qkv", "channels_last", "vae_no_upcast"} <= set(loaded.speedups)
    assert "compile_regional" not in loaded.speedups  # compile is CUDA-only by default
    plain = load_pipeline(
        ModelConfig(
            path=str(tiny_model_dir), device="cpu", dtype="float32", fuse_qkv=False, channels_last=False
        )
    )
    assert "fuse_qkv" not in plain.speedups and "channels_last" not in plain.speedups


def test_speed_switches_do_not_change_the_image(tiny_model_dir: Path) -> None:
    def image(**options: object) -> np.ndarray:
        cfg = ModelConfig(path=str(tiny_model_dir), device="cpu", dtype="float32", **options)  # type: ignore[arg-type]
        pipe = load_pipeline(cfg).pipe
        out = pipe(
            "otter",
            num_inference_steps=1,
            guidance_scale=0.0,
            width=128,
            height=128,
            generator=torch.Generator().manual_seed(5),
        )
        return pixels(out.images[0])

    fast = image()
    slow = image(sdpa=False, fuse_qkv=False, channels_last=False)
    assert np.abs(fast - slow).max() <= 2.0


def test_cpu_bf16_detection_reads_cpu_flags() -> None:
    assert cpu_has_native_bf16("processor: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16 amx_tile\n")
    assert cpu_has_native_bf16("flags: fpu amx_bf16\n")
    assert cpu_has_native_bf16("Features\t: fp asimd bf16 i8mm\n")  # Arm
    assert not cpu_has_native_bf16("flags: fpu sse2 avx2 avx512f\n")
    assert not cpu_has_native_bf16("")


def test_device_and_dtype_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    auto = choose_device(ModelConfig())
    assert auto.device.type == "cpu"
    assert auto.dtype == (torch.bfloat16 if cpu_has_native_bf16() else torch.float32)
    assert choose_device(ModelConfig(dtype="float32")).dtype == torch.float32
    with pytest.raises(GeneratorError, match=r"model\.dtype 'int8'"):
        choose_device(ModelConfig.model_construct(dtype="int8"))  # skips validation, as a stale object would
    with pytest.raises(GeneratorError, match="no CUDA GPU"):
        choose_device(ModelConfig(device="cuda"))


def test_missing_hub_model_offline_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hf-home" / "hub"))
    with pytest.raises(ModelMissing) as info:
        load_pipeline(ModelConfig(path="stickerbot-tests/no-such-model", device="cpu", dtype="float32"))
    message = info.value.user_message
    assert "\n" not in message
    assert "stickerbot-tests/no-such-model" in message
    assert "hf download stickerbot-tests/no-such-model" in message


def test_missing_local_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelMissing, match="does not exist"):
        load_pipeline(ModelConfig(path=str(tmp_path / "nowhere"), device="cpu"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelMissing, match="not a diffusers SDXL pipeline"):
        load_pipeline(ModelConfig(path=str(tmp_path / "empty"), device="cpu"))


def test_dev_tiny_model_command_writes_a_loadable_pipeline(tmp_path: Path, capsys) -> None:
    target = tmp_path / "tiny"
    assert cli_main(["dev", "tiny-model", str(target), "--seed", "3"]) == 0
    assert "written to" in capsys.readouterr().out
    assert (target / "model_index.json").is_file()
    assert (target / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    pipe = StableDiffusionXLPipeline.from_pretrained(target, local_files_only=True)
    assert pipe.text_encoder_2.config.projection_dim == 32


# --------------------------------------------------------------------------- StickerPipeline
def test_sticker_pipeline_properties(tiny_sticker_pipeline) -> None:
    sp = tiny_sticker_pipeline
    assert sp.device.type == "cpu"
    assert sp.dtype == torch.float32
    assert sp.active_style in (None, "plain", "lora-a", "fusion")


def test_same_seed_same_image_batched_or_not(tiny_sticker_pipeline) -> None:
    sp = tiny_sticker_pipeline
    sp.activate_style("plain")
    prompts = ["happy, otter, dm-sticker", "sad, otter, dm-sticker", "happy, otter, dm-sticker"]
    batch = sp.run(prompts, [""] * 3, [11, 12, 13], 1, 128, 128)
    alone = [sp.run([p], [""], [s], 1, 128, 128)[0] for p, s in zip(prompts, [11, 12, 13], strict=True)]
    for together, single in zip(batch, alone, strict=True):
        assert np.abs(pixels(together) - pixels(single)).max() <= 2.0
    assert np.abs(pixels(batch[0]) - pixels(batch[2])).mean() > 5.0  # other seed, other image
    again = sp.run(prompts[:1], [""], [11], 1, 128, 128)[0]
    assert np.array_equal(pixels(again), pixels(alone[0]))


def test_run_rejects_mismatched_batches(tiny_sticker_pipeline) -> None:
    with pytest.raises(GenerationFailed):
        tiny_sticker_pipeline.run(["a", "b"], [""], [1, 2], 1, 128, 128)


def test_activate_unknown_style(tiny_sticker_pipeline) -> None:
    with pytest.raises(UnknownStyle):
        tiny_sticker_pipeline.activate_style("../plain")


def test_warmup_runs(tiny_sticker_pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    sp = tiny_sticker_pipeline
    calls: list[tuple[int, int, int]] = []
    real_run = sp.run

    def recording_run(prompts, negatives, seeds, steps, width, height):  # calls through: a spy, not a fake
        images = real_run(prompts, negatives, seeds, steps, width, height)
        calls.append((len(images), width, height))
        return images

    monkeypatch.setattr(sp, "run", recording_run)
    started = time.perf_counter()
    elapsed_ms = sp.warmup(batch_sizes=(1, 2), size=(64, 64))
    wall_ms = (time.perf_counter() - started) * 1000.0
    assert calls == [(1, 64, 64), (2, 64, 64)]  # one real generation per batch size, at the asked size
    assert 0 < elapsed_ms <= wall_ms  # the time it reports is the time those generations took
    calls.clear()
    sp.warmup(size=(64, 64))
    assert calls == [(1, 64, 64)]  # an uncompiled UNet needs batch 1 only


def test_random_weight_materialisation_gives_finite_working_models() -> None:
    # The full-size builder's path (meta device → to_empty → pooled fill), on tiny configs.
    from transformers import CLIPTextModel

    from generator.fullsize import materialise
    from generator.tiny import _text_config, build_tiny_unet, build_tokenizer

    with torch.device("meta"):
        unet = build_tiny_unet()
        text = CLIPTextModel(_text_config(build_tokenizer()))
    materialise(unet, torch.device("cpu"), torch.float32, seed=0)
    materialise(text, torch.device("cpu"), torch.float32, seed=1)
    assert all(torch.isfinite(p).all() for p in unet.parameters())
    assert torch.equal(unet.conv_norm_out.weight, torch.ones_like(unet.conv_norm_out.weight))
    position_ids = dict(text.named_buffers())["embeddings.position_ids"]
    assert position_ids[0].tolist() == list(range(77))
    sample = torch.randn(1, 4, 8, 8)
    hidden = text(torch.tensor([[512, 40, 41, 513]])).last_hidden_state
    cond = torch.cat([hidden, hidden], dim=-1)
    added = {"text_embeds": torch.randn(1, 32), "time_ids": torch.zeros(1, 6)}
    out = unet(sample, 999, encoder_hidden_states=cond, added_cond_kwargs=added).sample
    assert out.shape == sample.shape and torch.isfinite(out).all()


def test_tiny_autoencoder_switch_decodes(tiny_model_dir: Path, tmp_path: Path) -> None:
    from generator.tiny import save_tiny_autoencoder

    vae_dir = save_tiny_autoencoder(tmp_path / "taesd")
    cfg = ModelConfig(path=str(tiny_model_dir), device="cpu", dtype="float32", tiny_vae=str(vae_dir))
    loaded = load_pipeline(cfg)
    assert "tiny_vae" in loaded.speedups
    image = loaded.pipe("otter", num_inference_steps=1, guidance_scale=0.0, width=128, height=128).images[0]
    assert image.size == (128, 128)
    with pytest.raises(ModelMissing, match=r"model\.tiny_vae"):
        load_pipeline(
            ModelConfig(
                path=str(tiny_model_dir),
                device="cpu",
                tiny_vae=str(tmp_path / "missing"),
                local_files_only=True,
            )
        )


def test_speed_switches_tool_measures_each_switch(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.speed_switches import main

    assert main(["--device", "cpu", "--dtype", "float32", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    for row in ("classic attention", "+ sdpa", "+ fuse_qkv", "+ channels_last", "tiny autoencoder"):
        assert row in out


def test_negative_prompts_do_nothing_at_sdxl_turbo_guidance(tiny_sticker_pipeline) -> None:
    """Why the bot sends no negative prompt and leaves it out of the cache key: at guidance 0
    (SDXL-Turbo) diffusers ignores it, so it can't be a safety measure."""
    import numpy as np

    plain = tiny_sticker_pipeline.run(["waving otter"], [""], [7], 1, 64, 64)[0]
    negated = tiny_sticker_pipeline.run(["waving otter"], ["nsfw, nude, gore, otter"], [7], 1, 64, 64)[0]
    other_prompt = tiny_sticker_pipeline.run(["sleeping otter"], [""], [7], 1, 64, 64)[0]
    assert np.array_equal(np.asarray(plain), np.asarray(negated))
    assert not np.array_equal(np.asarray(plain), np.asarray(other_prompt))  # the prompt does act
