"""Pluggable matters: the step that turns an RGB image into an RGBA cut-out.

`flood` (the default) is model-free and offline. `segment:<hub id or directory>` runs a transformers
segmentation model (`generator.segmenter`). `rembg:<model>` (e.g. `rembg:isnet-anime`,
`rembg:birefnet-general`) uses the optional rembg package with a model file that is already on
disk; Stickerbot never downloads weights, and a missing package or file is a clear error.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from generator.api import GenerationFailed, InvalidRequest
from generator.postprocess.background import BackgroundEstimate, key_background
from generator.postprocess.errors import MatterUnavailable
from generator.postprocess.options import StickerOptions

DEFAULT_REMBG_MODEL = "isnet-anime"
_MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Matte:
    """A cut-out and how it was made."""

    image: Image.Image  # RGBA, same size as the input
    matter: str
    background: BackgroundEstimate | None = None
    fallback: bool = False  # True when no background could be separated and the whole image was kept


class Matter(Protocol):
    name: str

    def matte(self, image: Image.Image, options: StickerOptions) -> Matte:
        """Cut the subject out of an RGB image."""
        ...


class FloodMatter:
    """Border colour estimate + flood fill + soft edges (see `background`)."""

    name = "flood"

    def matte(self, image: Image.Image, options: StickerOptions, prior: np.ndarray | None = None) -> Matte:
        rgb = image if image.mode == "RGB" else image.convert("RGB")  # convert() copies even RGB
        result = key_background(np.asarray(rgb), options, prior)
        return Matte(
            image=Image.fromarray(result.rgba, "RGBA"),
            matter=self.name,
            background=result.background,
            fallback=result.fallback,
        )


def rembg_home() -> Path:
    """Where rembg keeps model files: $U2NET_HOME, else $XDG_DATA_HOME/.u2net, else ~/.u2net."""
    default = os.path.join(os.getenv("XDG_DATA_HOME", "~"), ".u2net")
    return Path(os.path.expanduser(os.getenv("U2NET_HOME", default)))


class RembgMatter:
    """A segmentation model run by rembg, with its weights already on disk."""

    def __init__(self, model: str = DEFAULT_REMBG_MODEL) -> None:
        if not _MODEL_NAME.match(model):
            raise InvalidRequest(f"Not a rembg model name: {model!r}.")
        self.model = model
        self.name = f"rembg:{model}"
        if importlib.util.find_spec("rembg") is None:
            raise MatterUnavailable(
                f"Matting '{self.name}' needs the optional rembg package "
                "(pip install rembg onnxruntime); the default 'flood' matting needs nothing."
            )
        self.weights = rembg_home() / f"{model}.onnx"
        if not self.weights.is_file():
            raise MatterUnavailable(
                f"Matting '{self.name}' needs the model file {self.weights} "
                "(Stickerbot never downloads weights; copy the file there or set U2NET_HOME)."
            )
        self._session: Any = None
        self._lock = threading.Lock()

    def _get_session(self) -> Any:
        with self._lock:
            if self._session is None:
                rembg = importlib.import_module("rembg")
                try:
                    self._session = rembg.new_session(self.model)
                except Exception as exc:  # rembg/onnxruntime raise many kinds; report them as one
                    raise MatterUnavailable(f"Could not load the rembg model {self.model}.") from exc
            return self._session

    def matte(self, image: Image.Image, options: StickerOptions) -> Matte:
        session = self._get_session()
        rembg = importlib.import_module("rembg")
        try:
            result = rembg.remove(image.convert("RGB"), session=session)
        except Exception as exc:  # a model failure must not escape as a raw traceback
            raise GenerationFailed("Background removal failed for this image.") from exc
        if not isinstance(result, Image.Image):
            raise GenerationFailed("Background removal returned no image.")
        return Matte(image=result.convert("RGBA"), matter=self.name)


_FLOOD = FloodMatter()
_cache: dict[str, Matter] = {}
_cache_lock = threading.Lock()


def get_matter(name: str) -> Matter:
    """The matter for a config value: 'flood', 'rembg', 'rembg:<model>' or 'segment:<model>'."""
    key = (name or "flood").strip().lower()
    if key == "flood":
        return _FLOOD
    if key.startswith("segment:") and len(key) > len("segment:"):
        source = (name or "").strip()[len("segment:") :]
        with _cache_lock:
            if key not in _cache:
                from generator.segmenter import SegmenterMatter  # torch: loaded only when asked for

                _cache[key] = SegmenterMatter(source)
            return _cache[key]
    if key != "rembg" and not key.startswith("rembg:"):
        raise InvalidRequest(
            f"Unknown matting method {name!r} (use 'flood', 'rembg:<model>' or 'segment:<model>')."
        )
    with _cache_lock:
        if key not in _cache:
            model = key.partition(":")[2] or DEFAULT_REMBG_MODEL
            _cache[key] = RembgMatter(model)
        return _cache[key]
