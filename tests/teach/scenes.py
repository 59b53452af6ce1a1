"""Photo-like scenes for the one-subject check: a subject drawn in varied poses, sizes, rooms and light.

`subject_photo("corgi", seed)` renders a textured orange-and-white dog (or a green parrot, or a blue
toy car) rotated, flipped, scaled and placed off-centre in a random room (wall, floor, furniture, a
lighting gradient, sensor noise) under a random exposure and colour temperature, as a JPEG.
`blank_photo(kind, seed)` is a photo of nothing: a wall, the sky, a carpet.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZE = (480, 400)
WALLS = [(226, 214, 190), (200, 200, 196), (178, 196, 214), (240, 238, 232), (190, 206, 176), (150, 120, 96)]
FLOORS = [(150, 104, 64), (120, 120, 118), (190, 170, 140), (90, 70, 60), (170, 60, 50)]
FURNITURE = [(110, 50, 40), (60, 70, 110), (200, 190, 170), (40, 40, 40), (150, 160, 90), (220, 120, 60)]


def _corgi(draw: ImageDraw.ImageDraw) -> None:
    orange, white, dark = (205, 120, 50), (245, 240, 230), (30, 22, 18)
    draw.ellipse((40, 110, 300, 230), fill=orange)  # body
    draw.ellipse((90, 170, 260, 235), fill=white)  # belly
    for x in (70, 110, 220, 260):
        draw.rectangle((x, 215, x + 26, 275), fill=orange)
        draw.rectangle((x, 260, x + 26, 278), fill=white)
    draw.ellipse((230, 40, 350, 150), fill=orange)  # head
    draw.ellipse((270, 95, 340, 150), fill=white)  # muzzle
    draw.polygon([(238, 70), (250, 0), (280, 50)], fill=orange)  # ears
    draw.polygon([(300, 50), (335, 0), (345, 70)], fill=orange)
    draw.ellipse((270, 75, 284, 89), fill=dark)  # eyes, nose
    draw.ellipse((310, 75, 324, 89), fill=dark)
    draw.ellipse((322, 108, 342, 124), fill=dark)
    draw.ellipse((20, 120, 60, 150), fill=white)  # tail


def _parrot(draw: ImageDraw.ImageDraw) -> None:
    draw.ellipse((110, 80, 250, 260), fill=(40, 170, 60))  # body
    draw.polygon([(120, 140), (60, 300), (170, 250)], fill=(30, 80, 200))  # wing, tail
    draw.polygon([(150, 250), (130, 330), (190, 330)], fill=(30, 80, 200))
    draw.ellipse((150, 20, 260, 120), fill=(220, 30, 40))  # head
    draw.polygon([(250, 60), (300, 80), (250, 100)], fill=(250, 210, 40))  # beak
    draw.ellipse((210, 50, 226, 66), fill=(10, 10, 10))


def _toy_car(draw: ImageDraw.ImageDraw) -> None:
    draw.rounded_rectangle((20, 120, 340, 220), radius=30, fill=(30, 90, 210))  # body
    draw.polygon([(90, 120), (130, 60), (250, 60), (290, 120)], fill=(30, 90, 210))  # cabin
    draw.polygon([(110, 115), (140, 72), (185, 72), (185, 115)], fill=(180, 220, 240))  # windows
    draw.polygon([(195, 115), (195, 72), (240, 72), (270, 115)], fill=(180, 220, 240))
    for x in (60, 240):
        draw.ellipse((x, 180, x + 70, 250), fill=(20, 20, 20))
        draw.ellipse((x + 20, 200, x + 50, 230), fill=(200, 200, 200))


DRAWINGS = {"corgi": _corgi, "parrot": _parrot, "car": _toy_car}


def _room(rng: np.random.Generator) -> Image.Image:
    wall = np.array(WALLS[rng.integers(len(WALLS))], dtype=np.float32)
    floor = np.array(FLOORS[rng.integers(len(FLOORS))], dtype=np.float32)
    horizon = int(SIZE[1] * rng.uniform(0.45, 0.8))
    pixels = np.empty((SIZE[1], SIZE[0], 3), dtype=np.float32)
    pixels[:horizon] = wall
    pixels[horizon:] = floor
    image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(0, 3)):  # a sofa, a shelf, a picture frame
        colour = FURNITURE[rng.integers(len(FURNITURE))]
        x = int(rng.uniform(-100, SIZE[0] - 60))
        w, h = int(rng.uniform(60, 200)), int(rng.uniform(40, 160))
        y = int(rng.uniform(20, horizon))
        draw.rectangle((x, y, x + w, y + h), fill=colour)
    return image


def _texture(image: Image.Image, rng: np.random.Generator, strength: float) -> np.ndarray:
    pixels = np.asarray(image, dtype=np.float32)
    grain = rng.normal(0, strength, pixels.shape[:2])[..., None]
    return pixels * (1 + grain / 100)


def subject_photo(kind: str, seed: int, *, size: tuple[int, int] = SIZE) -> bytes:
    rng = np.random.default_rng(1000 + seed)
    layer = Image.new("RGBA", (360, 340), (0, 0, 0, 0))
    DRAWINGS[kind](ImageDraw.Draw(layer))
    fur = _texture(layer.convert("RGB"), rng, 8.0).clip(0, 255).astype(np.uint8)
    layer = Image.merge("RGBA", (*Image.fromarray(fur).split(), layer.getchannel("A")))
    if rng.random() < 0.5:
        layer = layer.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    layer = layer.rotate(float(rng.uniform(-25, 25)), expand=True, resample=Image.Resampling.BICUBIC)
    scale = rng.uniform(0.5, 0.95) * SIZE[0] / layer.width
    layer = layer.resize((int(layer.width * scale), int(layer.height * scale)), Image.Resampling.LANCZOS)
    room = _room(rng)
    x = int((SIZE[0] - layer.width) / 2 + rng.uniform(-0.15, 0.15) * SIZE[0])
    y = int((SIZE[1] - layer.height) / 2 + rng.uniform(-0.1, 0.15) * SIZE[1])
    room.paste(layer, (x, y), layer)
    return _photograph(room, rng, size)


def blank_photo(kind: str, seed: int, *, size: tuple[int, int] = SIZE) -> bytes:
    """A wall (plain paint in uneven light), the sky (a blue gradient) or a fine carpet texture."""
    rng = np.random.default_rng(2000 + seed)
    h, w = SIZE[1], SIZE[0]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "wall":
        colour = np.array(WALLS[rng.integers(len(WALLS))], dtype=np.float32)
        light = 1 + 0.08 * (xs / w - 0.5) + 0.05 * (ys / h - 0.5)
        pixels = colour * light[..., None]
    elif kind == "sky":
        top, bottom = np.array([70, 130, 210], np.float32), np.array([170, 205, 235], np.float32)
        t = (ys / h)[..., None]
        pixels = top * (1 - t) + bottom * t
    else:  # carpet
        colour = np.array(FLOORS[rng.integers(len(FLOORS))], dtype=np.float32)
        weave = rng.normal(0, 12, (h // 2, w // 2))
        pixels = colour * (1 + np.kron(weave, np.ones((2, 2)))[..., None] / 100)
    return _photograph(Image.fromarray(pixels.clip(0, 255).astype(np.uint8)), rng, size)


def _photograph(scene: Image.Image, rng: np.random.Generator, size: tuple[int, int]) -> bytes:
    """Exposure, colour temperature, a soft light falloff and sensor noise, then JPEG."""
    pixels = _texture(scene, rng, 2.0)
    gain = rng.uniform(0.65, 1.2)
    warm = rng.uniform(-0.12, 0.12)
    pixels *= gain * np.array([1 + warm, 1.0, 1 - warm], dtype=np.float32)
    h, w = pixels.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    lx, ly = rng.uniform(0, w), rng.uniform(0, h)
    falloff = 1 - 0.25 * np.hypot(xs - lx, ys - ly) / np.hypot(w, h)
    pixels = pixels * falloff[..., None] + rng.normal(0, 3, pixels.shape)
    image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).filter(ImageFilter.SHARPEN)
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()
