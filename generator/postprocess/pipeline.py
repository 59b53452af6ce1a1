"""The full post-processing path: cut out → lay out → outline/shadow → size-capped WebP."""

from __future__ import annotations

import numpy as np
from PIL import Image

from generator.postprocess.effects import add_outline, add_shadow, shadow_extent
from generator.postprocess.encode import STICKER_SIDE, encode_sticker_webp
from generator.postprocess.errors import NoSubject
from generator.postprocess.layout import fit_subject
from generator.postprocess.loading import ImageSource, load_image
from generator.postprocess.matting import FloodMatter, Matte, get_matter
from generator.postprocess.options import StickerOptions

WORK_MAX_SIDE = 2048  # larger inputs are reduced first: the sticker is 512 px, a 4x crop is plenty
TRANSPARENT_SHARE = 0.01  # an input with this share of non-opaque pixels is already cut out
SUBJECT_PRIOR = "stickerbot.subject_prior"  # image.info key: HxW float32 subject mask in [0, 1]


def _working_copy(image: Image.Image) -> Image.Image:
    if max(image.size) <= WORK_MAX_SIDE:
        return image
    scale = WORK_MAX_SIDE / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def cut(image: Image.Image | ImageSource, options: StickerOptions | None = None) -> Matte:
    """Cut the subject out and say how (matter, estimated background, whether the fallback ran).

    An image that already has transparency (a PNG cut out elsewhere) keeps its own alpha.
    """
    options = options or StickerOptions()
    prior = subject_prior(image) if isinstance(image, Image.Image) else None
    image = _working_copy(load_image(image))
    if image.mode == "RGBA":
        alpha = np.asarray(image.getchannel("A"))
        if not alpha.any():
            raise NoSubject("The image is fully transparent.")
        if float((alpha < 250).mean()) >= TRANSPARENT_SHARE:
            return Matte(image=image, matter="alpha")
        image = image.convert("RGB")
    matter = get_matter(options.matting)
    if prior is not None and isinstance(matter, FloodMatter):
        return matter.matte(image, options, prior=prior)
    return matter.matte(image, options)


def subject_prior(image: Image.Image) -> np.ndarray | None:
    """The coarse subject mask a generator attached to its image (`image.info[SUBJECT_PRIOR]`)."""
    prior = image.info.get(SUBJECT_PRIOR)
    if isinstance(prior, np.ndarray) and prior.ndim == 2 and min(prior.shape) >= 2:
        return prior
    return None


def cutout(image: Image.Image | ImageSource, options: StickerOptions | None = None) -> Image.Image:
    """The subject on a transparent background (RGBA, input size or at most 2048 px), before layout."""
    return cut(image, options).image


def layout_padding(options: StickerOptions) -> int:
    """Transparent px kept on each side at 512: margin + outline + shadow reach."""
    return options.margin + options.outline + (shadow_extent() if options.shadow else 0) + 1


def finish_rgba(rgba: Image.Image, options: StickerOptions | None = None) -> Image.Image:
    """Lay out a cut-out (longer side exactly 512, optional square) and add outline and shadow."""
    options = options or StickerOptions()
    laid_out = fit_subject(
        rgba.convert("RGBA"), pad=layout_padding(options), side=STICKER_SIDE, square=options.square
    )
    result = add_outline(laid_out, options.outline, options.outline_color)
    if options.shadow:
        result = add_shadow(result)
    return result


def make_sticker(image: Image.Image | ImageSource, options: StickerOptions | None = None) -> bytes:
    """Image → Telegram-ready sticker: WebP with alpha, longer side exactly 512, < 512,000 bytes."""
    options = options or StickerOptions()
    return encode_sticker_webp(finish_rgba(cutout(image, options), options))
