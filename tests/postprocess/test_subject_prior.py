"""The generator's subject prior: cross-attention maps recorded while drawing, used by the cut-out.

With the tiny model's random weights the maps say nothing about where a subject is, so these tests
check the mechanism (the right tokens, a mask of the right shape attached to each image, the drawing
unchanged, the cut-out taking it); what a good prior is worth is measured with a coarse prior made
from the true alpha of the labelled pale scenes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generator.attention_prior import _key_projection, subject_phrases, token_weights
from generator.postprocess import StickerOptions, cutout, make_sticker
from generator.postprocess.pipeline import SUBJECT_PRIOR, subject_prior
from generator.postprocess.scenes import EmojiFontMissing, pale_scene
from generator.postprocess.synthetic import alpha_iou

RABBIT = "{expression}, cute {subject}, die-cut sticker, flat cartoon, plain green background"


def test_subject_phrases_follow_the_style_template() -> None:
    default = "{expression}, {subject}, {trigger}"
    assert subject_phrases("eating, otter, dm-sticker", default, "dm-sticker") == ["otter", "dm-sticker"]
    assert subject_phrases("eating fish, two cats, dm-sticker", default, "dm-sticker") == [
        "two cats",
        "dm-sticker",
    ]
    prompt = "sad, cute rabbit, die-cut sticker, flat cartoon, plain green background"
    assert subject_phrases(prompt, RABBIT, "") == ["rabbit"]
    assert subject_phrases("warm-up", default, "dm-sticker") == []


@pytest.fixture(scope="module")
def tiny_pipeline(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    import os

    from generator.options import ModelConfig
    from generator.pipeline import StickerPipeline
    from generator.styles import StyleRegistry

    styles = tmp_path_factory.mktemp("prior-styles")
    (styles / "plain.yaml").write_text(
        "name: plain\ndescription: Prompt only.\ntrigger: dm-sticker\nsubject: otter\n", encoding="utf-8"
    )
    saved = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        cfg = ModelConfig(path=str(tiny_model_dir), device="cpu", dtype="float32", local_files_only=True)
        pipe = StickerPipeline.load(cfg, StyleRegistry.load(styles))
    finally:
        if saved is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = saved
    pipe.activate_style("plain")
    return pipe


def test_token_weights_mark_the_subject_and_trigger(tiny_pipeline) -> None:
    tokenizer = tiny_pipeline.pipe.tokenizer
    prompts = ["eating, otter, dm-sticker", "sad, otter, dm-sticker"]
    phrases = [["otter", "dm-sticker"], ["otter"]]
    weights = token_weights(tokenizer, prompts, phrases)
    assert weights.shape == (2, 77)
    otter = len(tokenizer("otter", add_special_tokens=False).input_ids)
    trigger = len(tokenizer("dm-sticker", add_special_tokens=False).input_ids)
    assert int(weights[0].sum()) == otter + trigger
    assert int(weights[1].sum()) == otter
    assert weights[:, 0].sum() == 0  # never the start token


def test_generated_images_carry_a_subject_mask(tiny_pipeline) -> None:
    pipe = tiny_pipeline
    assert pipe.attention is not None and pipe.attention.installed
    prompts = ["eating, otter, dm-sticker", "sleepy, two cats, dm-sticker"]
    images = pipe.run(prompts, ["", ""], [1, 2], 1, 128, 128)
    for image in images:
        prior = subject_prior(image)
        assert prior is not None
        assert prior.dtype == np.float32 and prior.shape == (8, 8)  # the finest cross-attention level
        assert float(prior.min()) == 0.0 and float(prior.max()) == 1.0
    assert not np.array_equal(subject_prior(images[0]), subject_prior(images[1]))
    assert pipe.last_prior_ms > 0

    pipe.attention.uninstall()  # the recording leaves the drawing exactly as it was
    try:
        plain = pipe.run(prompts, ["", ""], [1, 2], 1, 128, 128)
    finally:
        pipe.attention.install()
    for a, b in zip(images, plain, strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b))
        assert SUBJECT_PRIOR not in b.info
    assert make_sticker(images[0], StickerOptions())  # the finished path takes an image with a prior


def test_the_prior_reuses_each_layers_own_projections(tiny_pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    """Recording keeps the query and keys the cross-attention computes anyway (one projection each
    per layer and pass, not two) and builds exactly the masks that recomputing them gives."""
    import torch

    pipe = tiny_pipeline
    calls = [0]
    attn2 = [m for name, m in pipe.pipe.unet.named_modules() if name.endswith("attn2")]
    layers = [m.to_q for m in attn2] + [_key_projection(m) for m in attn2]
    counters = [
        layer.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1)) for layer in layers
    ]
    prompts = ["eating, otter, dm-sticker"]
    try:
        kept = subject_prior(pipe.run(prompts, [""], [3], 1, 128, 128)[0])
        assert calls[0] == len(layers)  # one query and one key projection per layer for the one UNet pass

        class NoHook:
            def remove(self) -> None:
                pass

        monkeypatch.setattr(torch.nn.Linear, "register_forward_hook", lambda self, hook: NoHook())
        calls[0] = 0
        recomputed = subject_prior(pipe.run(prompts, [""], [3], 1, 128, 128)[0])
        assert calls[0] > len(layers)  # the old way: the recorder projects the captured layers again
    finally:
        for counter in counters:
            counter.remove()
    assert kept is not None and recomputed is not None
    assert np.array_equal(kept, recomputed)


def test_prompts_outside_the_template_get_no_mask(tiny_pipeline) -> None:
    images = tiny_pipeline.run(["warm-up"], [""], [0], 1, 64, 64)
    assert subject_prior(images[0]) is None


def test_the_cut_out_uses_the_prior_where_colour_cannot_decide() -> None:
    try:
        scene = pale_scene("🐇", 25004)  # a pale grey rabbit on paper of nearly its own grey
    except EmojiFontMissing as exc:
        pytest.skip(str(exc))
    options = StickerOptions(outline=0)
    alone = alpha_iou(np.asarray(cutout(scene.image, options))[..., 3] / 255.0, scene.alpha)
    coarse = Image.fromarray(scene.alpha, "F").resize((32, 32), Image.Resampling.BOX)
    image = scene.image.copy()
    image.info[SUBJECT_PRIOR] = np.asarray(coarse, dtype=np.float32)
    helped = alpha_iou(np.asarray(cutout(image, options))[..., 3] / 255.0, scene.alpha)
    assert alone < 0.7  # colour alone loses most of the body
    assert helped >= 0.9


async def test_the_engine_hands_the_prior_to_the_cut_out(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Through the real engine: the generated image reaches the finisher with its prior attached."""
    from bench.fixtures import write_style
    from generator.api import GenerationRequest
    from generator.engine import Engine, sticker_finisher
    from generator.options import EngineConfig, ModelConfig
    from generator.pipeline import StickerPipeline
    from generator.styles import StyleRegistry

    write_style(tmp_path, "plain")
    registry = StyleRegistry.load(tmp_path)
    cfg = ModelConfig(path=str(tiny_model_dir), local_files_only=True, compile="off", warmup=False)
    real_finish = sticker_finisher({}, "flood")
    seen: list[np.ndarray | None] = []

    def finish(image, style, request):
        seen.append(subject_prior(image))
        return real_finish(image, style, request)

    engine = Engine(
        lambda: StickerPipeline.load(cfg, registry),
        registry.summaries(),
        EngineConfig(styles_dir=str(tmp_path), default_style="plain", max_wait_ms=0),
        finisher=finish,
        warmup=False,
    )
    await engine.start()
    try:
        result = await engine.generate(
            GenerationRequest(
                prompt="eating, otter, dm-sticker", style="plain", seed=3, width=128, height=128
            )
        )
    finally:
        await engine.close()
    assert len(result.stickers) == 1 and result.stickers[0].webp
    assert len(seen) == 1 and seen[0] is not None and seen[0].shape == (8, 8)
