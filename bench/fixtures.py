"""What the benchmarks run on: temporary style folders and sticker-like test images."""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

STYLE_TEMPLATE = """\
name: {name}
description: Benchmark style {name}
trigger: dm-sticker
template: "{{expression}}, {{subject}}, {{trigger}}"
subject: otter
negative_prompt: photo, realistic, text
background: white
steps: 1
outline: true
{loras}"""


def write_style(directory: Path, name: str, loras: list[tuple[Path, float]] = ()) -> Path:
    """A style file; `loras` are local `.safetensors` files fused with their scales."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = ""
    if loras:
        lines = "loras:\n" + "".join(f"  - source: {path}\n    scale: {scale}\n" for path, scale in loras)
    path = directory / f"{name}.yaml"
    path.write_text(STYLE_TEMPLATE.format(name=name, loras=lines), encoding="utf-8")
    return path


def sticker_like_image(seed: int, size: int = 512) -> Image.Image:
    """A character-ish blob on a flat white background with a little texture, like a turbo sticker."""
    rng = random.Random(seed)
    img = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    body = (rng.randint(60, 200), rng.randint(40, 160), rng.randint(20, 120))
    draw.ellipse((size * 0.2, size * 0.25, size * 0.8, size * 0.9), fill=body)
    draw.ellipse((size * 0.3, size * 0.1, size * 0.7, size * 0.5), fill=body)
    for _ in range(40):
        x, y = rng.uniform(0.3, 0.7) * size, rng.uniform(0.2, 0.8) * size
        r = rng.uniform(2, 12)
        shade = tuple(max(0, c - rng.randint(10, 60)) for c in body)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=shade)
    draw.ellipse((size * 0.38, size * 0.22, size * 0.44, size * 0.28), fill=(10, 10, 10))
    draw.ellipse((size * 0.56, size * 0.22, size * 0.62, size * 0.28), fill=(10, 10, 10))
    return img.filter(ImageFilter.GaussianBlur(1.2))
