"""The prompt-embedding cache of `StickerPipeline` (rerolls: same prompt, new seed)."""

from __future__ import annotations

import numpy as np
import torch

from generator.lora import LayerDelta, StyleWeights
from generator.pipeline import PromptEmbeddingCache


def _pixels(images) -> list[np.ndarray]:
    return [np.asarray(image, dtype=np.int16) for image in images]


def test_cached_embeddings_give_the_same_images(tiny_sticker_pipeline) -> None:
    pipe = tiny_sticker_pipeline
    pipe.activate_style("plain")
    pipe.prompt_cache.clear()
    args = (["happy otter", "sad otter"], ["", ""], [3, 4], 1, 64, 64)
    first = _pixels(pipe.run(*args))
    hits = pipe.prompt_cache.hits
    again = _pixels(pipe.run(*args))
    assert pipe.prompt_cache.hits == hits + 2
    for a, b in zip(first, again, strict=True):
        assert np.array_equal(a, b)

    capacity, pipe.prompt_cache.capacity = pipe.prompt_cache.capacity, 0
    try:
        pipe.prompt_cache.clear()
        uncached = _pixels(pipe.run(*args))  # the plain diffusers prompt path
        assert len(pipe.prompt_cache) == 0
    finally:
        pipe.prompt_cache.capacity = capacity
    for a, b in zip(first, uncached, strict=True):
        assert np.abs(a - b).max() <= 1


def test_repeated_prompt_in_one_batch_is_encoded_once(tiny_sticker_pipeline) -> None:
    pipe = tiny_sticker_pipeline
    pipe.prompt_cache.clear()
    misses = pipe.prompt_cache.misses
    images = pipe.run(["waving otter"] * 3, [""] * 3, [1, 2, 3], 1, 64, 64)
    assert len(images) == 3
    assert pipe.prompt_cache.misses == misses + 1
    assert len(pipe.prompt_cache) == 1


def test_text_encoder_styles_get_their_own_entries(tiny_sticker_pipeline) -> None:
    pipe = tiny_sticker_pipeline
    pipe.activate_style("lora-a")  # a UNet-only LoRA: shares the base model's text embeddings
    assert pipe._text_weights_key() == ""
    original = pipe._weights["lora-a"]
    pipe._weights["lora-a"] = StyleWeights(  # as if the LoRA also changed a text-encoder layer
        style="lora-a", layers={**original.layers, ("text_encoder", "x"): LayerDelta()}
    )
    try:
        assert pipe._text_weights_key() == "lora-a"
    finally:
        pipe._weights["lora-a"] = original
        pipe.activate_style("plain")


def test_lru_evicts_the_oldest_and_reloading_styles_clears() -> None:
    cache = PromptEmbeddingCache(2)
    one = torch.zeros(1, 2, 3), torch.zeros(1, 3)
    cache.put(("", "a"), *one)
    cache.put(("", "b"), *one)
    assert cache.get(("", "a")) is not None  # "a" is now the most recent
    cache.put(("", "c"), *one)
    assert cache.get(("", "b")) is None
    assert cache.get(("", "a")) is not None and cache.get(("", "c")) is not None
    cache.clear()
    assert len(cache) == 0
    off = PromptEmbeddingCache(0)
    off.put(("", "a"), *one)
    assert len(off) == 0
