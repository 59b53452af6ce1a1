"""The pluggable matter interface: flood by default, rembg only when installed with local weights."""

from __future__ import annotations

import importlib.util
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from generator.api import GeneratorError, InvalidRequest
from generator.postprocess import MatterUnavailable, StickerOptions, cut, get_matter
from generator.postprocess.matting import FloodMatter, RembgMatter, rembg_home

rembg_installed = importlib.util.find_spec("rembg") is not None


def test_flood_is_the_default() -> None:
    assert isinstance(get_matter("flood"), FloodMatter)
    assert isinstance(get_matter(""), FloodMatter)


@pytest.mark.parametrize("name", ["magic", "rembg-isnet", "flood:fast"])
def test_unknown_matting_is_a_clear_error(name: str) -> None:
    with pytest.raises(InvalidRequest, match="Unknown matting"):
        get_matter(name)


@pytest.mark.parametrize("model", ["../etc/passwd", "a/b", "UPPER", ""])
def test_model_names_cannot_escape_the_model_directory(model: str) -> None:
    with pytest.raises(InvalidRequest):
        RembgMatter(model)


@pytest.mark.skipif(rembg_installed, reason="rembg is installed here")
def test_missing_rembg_package_is_explained() -> None:
    with pytest.raises(MatterUnavailable, match="pip install rembg") as caught:
        get_matter("rembg:isnet-anime")
    assert isinstance(caught.value, GeneratorError)
    with pytest.raises(MatterUnavailable):
        cut(Image.new("RGB", (64, 64)), StickerOptions(matting="rembg"))


@pytest.fixture
def stand_in_rembg(tmp_path, monkeypatch):
    """A stand-in `rembg` package on sys.path (the real one is optional and needs model files):
    it records calls and returns the input with a disc-shaped alpha."""
    package = tmp_path / "site" / "rembg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        textwrap.dedent(
            """
            from PIL import Image, ImageDraw
            sessions = []
            def new_session(model_name):
                sessions.append(model_name)
                return ("session", model_name)
            def remove(image, session=None):
                assert session == ("session", sessions[-1])
                mask = Image.new("L", image.size, 0)
                ImageDraw.Draw(mask).ellipse((8, 8, image.width - 8, image.height - 8), fill=255)
                out = image.convert("RGBA")
                out.putalpha(mask)
                return out
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("U2NET_HOME", str(tmp_path / "models"))
    monkeypatch.delitem(sys.modules, "rembg", raising=False)
    yield tmp_path / "models"
    sys.modules.pop("rembg", None)


def test_rembg_without_weights_never_downloads(stand_in_rembg) -> None:
    assert rembg_home() == stand_in_rembg
    with pytest.raises(MatterUnavailable, match="never downloads"):
        RembgMatter("isnet-anime")


def test_rembg_with_local_weights_is_used(stand_in_rembg) -> None:
    stand_in_rembg.mkdir()
    (stand_in_rembg / "birefnet-general.onnx").write_bytes(b"weights")
    matter = RembgMatter("birefnet-general")
    image = Image.new("RGB", (120, 120), (90, 90, 90))  # no plain-colour trick could cut this
    matte = matter.matte(image, StickerOptions())
    assert matte.matter == "rembg:birefnet-general"
    alpha = np.asarray(matte.image.getchannel("A"))
    assert alpha[60, 60] == 255 and alpha[0, 0] == 0
    matter.matte(image, StickerOptions())
    assert sys.modules["rembg"].sessions == ["birefnet-general"]  # one session, reused
