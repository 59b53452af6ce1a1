"""The knobs of the sticker post-processing step."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from generator.api import InvalidRequest

RGB = tuple[int, int, int]

MAX_OUTLINE = 32
OnNoBackground = Literal["keep", "error"]


@dataclass(frozen=True)
class StickerOptions:
    """How to turn an image into a sticker.

    background: the key colour to remove; None estimates it from the image border. A given colour is
        a hint: the measured border colour near it is used, and when the border shows a different plain
        colour that one is removed instead.
    outline: width in px (at 512) of the white outline around the subject; 0 turns it off.
    shadow: add a soft drop shadow under the subject.
    matting: "flood" (model-free, default), "rembg:<model>" when rembg and its weights are installed, or
        "segment:<hub id or directory>" for a transformers segmentation model (`generator.segmenter`).
    tolerance: RGB distance (0-441) up to which a pixel connected to the border counts as background;
        raised automatically when the border is noisier than that.
    square: centre the sticker on a transparent 512x512 canvas instead of keeping its aspect ratio.
    holes: make enclosed regions of the exact background colour transparent too (e.g. the gap
        between an arm and the body); switch off for subjects drawn in the background colour.
    on_no_background: "keep" uses the whole image (with rounded corners) when the border has no plain
        colour; "error" raises NoBackground instead.
    margin: transparent margin in px (at 512) between the subject (with outline and shadow) and the edge.
    surface: on light, neutral backgrounds (white, cream, grey paper) fit a smooth background surface
        and treat soft shadows as background (see `surface`); False keeps the single key colour.
    """

    background: RGB | None = None
    outline: int = 8
    shadow: bool = False
    matting: str = "flood"
    tolerance: float = 40.0
    square: bool = False
    holes: bool = True
    on_no_background: OnNoBackground = "keep"
    margin: int = 6
    outline_color: RGB = (255, 255, 255)
    surface: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.outline <= MAX_OUTLINE:
            raise InvalidRequest(f"The outline width must be between 0 and {MAX_OUTLINE} px.")
        if not 0 < self.tolerance <= 250:
            raise InvalidRequest("The background tolerance must be between 1 and 250.")
        if not 0 <= self.margin <= 64:
            raise InvalidRequest("The margin must be between 0 and 64 px.")
        if self.on_no_background not in ("keep", "error"):
            raise InvalidRequest("on_no_background must be 'keep' or 'error'.")
        for colour in (self.background, self.outline_color):
            if colour is not None and (len(colour) != 3 or not all(0 <= int(c) <= 255 for c in colour)):
                raise InvalidRequest("Colours must be three values from 0 to 255.")


_HEX = re.compile(r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")
_NAMED: dict[str, RGB] = {
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "magenta": (255, 0, 255),
}


def parse_color(text: str) -> RGB:
    """'#00ff00', '0f0', 'green' or '0,255,0' → an RGB tuple."""
    value = text.strip().lower()
    if value in _NAMED:
        return _NAMED[value]
    match = _HEX.match(value)
    if match:
        digits = match.group(1)
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        r, g, b = (int(digits[i : i + 2], 16) for i in (0, 2, 4))
        return (r, g, b)
    parts = [p.strip() for p in value.split(",")]
    if len(parts) == 3 and all(p.isdigit() and int(p) <= 255 for p in parts):
        r, g, b = (int(p) for p in parts)
        return (r, g, b)
    raise InvalidRequest(f"Not a colour: {text!r} (use '#rrggbb', 'r,g,b' or a name like 'white').")
