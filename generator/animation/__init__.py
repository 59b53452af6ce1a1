"""Animated stickers: motion presets from a finished sticker, video diffusion, and size-capped encoders.

`motion` and `encode` are torch-free (numpy, Pillow and, for WEBM, PyAV), so `bot/` and the CLI can
animate a sticker without loading a model; `diffusion` (AnimateDiff) imports torch.
"""
