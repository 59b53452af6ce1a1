"""A segmentation model as a matting plug-in: `matting: segment:<hub id or local directory>`.

Any `transformers` semantic-segmentation model (SegFormer, DPT, UperNet, … — loaded with
`AutoModelForSemanticSegmentation`) whose labels include a foreground class: "foreground",
"subject", "object", "salient", "person" or "character" (else label 1 of a two-label model). It is
loaded like the main model — a hub id through the Hugging Face cache, or a local directory — from
`.safetensors` weights only and never with remote code, so models that need `trust_remote_code`
(BiRefNet, RMBG-1.4/2.0) are refused; for those, `rembg:<model>` runs their ONNX export.

The model's foreground probability, resized to the image, is the alpha; edge pixels get their
colour from the nearest confidently-foreground pixels so no background is left in the rim.
`build_tiny_segmenter` makes a random-weight instance for offline tests and benchmarks.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageFilter

from generator.api import GenerationFailed
from generator.postprocess.errors import MatterUnavailable
from generator.postprocess.matting import Matte
from generator.postprocess.options import StickerOptions

FOREGROUND_LABELS = ("foreground", "subject", "object", "salient", "person", "character")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_INPUT_SIDE = 512


def _foreground_index(id2label: dict[Any, str]) -> int:
    labels = {int(k): str(v).lower() for k, v in id2label.items()}
    for index, label in sorted(labels.items()):
        if any(word in label for word in FOREGROUND_LABELS):
            return index
    if len(labels) == 2:
        return 1
    raise MatterUnavailable("The segmentation model has no foreground label (e.g. 'foreground', 'subject').")


def _read_preprocessing(directory: Path | None) -> tuple[int, tuple[float, ...], tuple[float, ...]]:
    """Input side, mean and std from the model's preprocessor_config.json (defaults: 512, ImageNet)."""
    side, mean, std = DEFAULT_INPUT_SIDE, IMAGENET_MEAN, IMAGENET_STD
    path = None if directory is None else directory / "preprocessor_config.json"
    if path is not None and path.is_file():
        config = json.loads(path.read_text(encoding="utf-8"))
        size = config.get("size", {})
        if isinstance(size, dict):
            side = int(size.get("height") or size.get("shortest_edge") or side)
        elif isinstance(size, int):
            side = size
        mean = tuple(config.get("image_mean", mean))
        std = tuple(config.get("image_std", std))
    return side, mean, std


class SegmenterMatter:
    """Cut-out by a transformers segmentation model (see the module docstring)."""

    def __init__(self, source: str, *, device: str | None = None) -> None:
        self.source = source
        self.name = f"segment:{source}"
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self._model: Any = None
        self._lock = threading.Lock()
        self._preprocessing: tuple[int, tuple[float, ...], tuple[float, ...]] | None = None
        self._foreground = 1

    def _load(self) -> Any:
        with self._lock:
            if self._model is not None:
                return self._model
            from transformers import AutoModelForSemanticSegmentation

            local = Path(self.source).expanduser()
            is_dir = local.is_dir()
            if is_dir and not any(local.glob("*.safetensors")):
                raise MatterUnavailable(
                    f"Matting '{self.name}': {local} has no .safetensors weights "
                    "(other formats are never loaded)."
                )
            offline = os.getenv("HF_HUB_OFFLINE", "") not in ("", "0")
            try:
                model = AutoModelForSemanticSegmentation.from_pretrained(
                    str(local) if is_dir else self.source,
                    use_safetensors=True,
                    trust_remote_code=False,
                    local_files_only=offline or is_dir,
                )
            except Exception as exc:  # hub, format and architecture errors all mean "cannot use it"
                raise MatterUnavailable(
                    f"Matting '{self.name}' could not load the segmentation model "
                    "(a transformers semantic-segmentation model with .safetensors weights, "
                    "as a local directory or a hub id in the Hugging Face cache)."
                ) from exc
            self._foreground = _foreground_index(model.config.id2label)
            directory = local if is_dir else _cached_snapshot(self.source)
            self._preprocessing = _read_preprocessing(directory)
            self._model = model.to(self.device).eval()
            return self._model

    @torch.inference_mode()
    def probability(self, image: Image.Image) -> np.ndarray:
        """The foreground probability (HxW float32 in [0, 1]) at the image's size."""
        model = self._load()
        assert self._preprocessing is not None
        side, mean, std = self._preprocessing
        rgb = image.convert("RGB").resize((side, side), Image.Resampling.BILINEAR)
        pixels = torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 255.0).permute(2, 0, 1)
        pixels = (pixels - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
        dtype = next(model.parameters()).dtype
        logits = model(pixel_values=pixels[None].to(self.device, dtype)).logits.float()
        logits = torch.nn.functional.interpolate(
            logits, size=(image.height, image.width), mode="bilinear", align_corners=False
        )
        if logits.shape[1] == 1:
            prob = torch.sigmoid(logits[0, 0])
        else:
            prob = torch.softmax(logits[0], dim=0)[self._foreground]
        return prob.cpu().numpy().astype(np.float32)

    def matte(self, image: Image.Image, options: StickerOptions) -> Matte:
        try:
            prob = self.probability(image)
        except MatterUnavailable:
            raise
        except Exception as exc:  # a model failure must not escape as a raw traceback
            raise GenerationFailed("Background removal failed for this image.") from exc
        rgb = image.convert("RGB")
        alpha = Image.fromarray(np.rint(prob * 255.0).astype(np.uint8), "L")
        # Rim colour: spread the colour of confident foreground outward (max filter on a masked copy
        # is a cheap nearest-foreground fill), so semi-transparent edges carry no background.
        solid = Image.fromarray(((prob > 0.9) * 255).astype(np.uint8), "L")
        spread = Image.composite(rgb, Image.new("RGB", rgb.size), solid).filter(ImageFilter.MaxFilter(5))
        rim = (prob > 0.02) & (prob < 0.9)
        colour = np.asarray(rgb).copy()
        colour[rim] = np.asarray(spread)[rim]
        out = Image.fromarray(colour, "RGB")
        out.putalpha(alpha)
        return Matte(image=out, matter=self.name)


def _cached_snapshot(repo_id: str) -> Path | None:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, local_files_only=True, allow_patterns=["*.json"]))
    except Exception:  # no cached config: defaults apply
        return None


def build_tiny_segmenter(directory: Path, *, seed: int = 0) -> Path:
    """A random-weight SegFormer (two labels: background, foreground) saved as safetensors."""
    from transformers import SegformerConfig, SegformerForSemanticSegmentation

    torch.manual_seed(seed)
    config = SegformerConfig(
        num_channels=3,
        num_encoder_blocks=2,
        depths=[1, 1],
        sr_ratios=[4, 2],
        hidden_sizes=[8, 16],
        patch_sizes=[7, 3],
        strides=[4, 2],
        num_attention_heads=[1, 2],
        mlp_ratios=[2, 2],
        decoder_hidden_size=16,
        num_labels=2,
        id2label={0: "background", 1: "foreground"},
        label2id={"background": 0, "foreground": 1},
    )
    model = SegformerForSemanticSegmentation(config)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory, safe_serialization=True)
    preprocessing = {
        "size": {"height": 256, "width": 256},
        "image_mean": IMAGENET_MEAN,
        "image_std": IMAGENET_STD,
    }
    (directory / "preprocessor_config.json").write_text(json.dumps(preprocessing), encoding="utf-8")
    return directory
