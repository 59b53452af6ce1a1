"""Errors of the style studio. They are `GeneratorError`s, so the CLI prints their one line and exits 2."""

from __future__ import annotations

from generator.api import GeneratorError


class StudioError(GeneratorError):
    """A studio command cannot go on (bad name, unsafe path, broken LoRA, ...)."""

    kind = "studio_error"


class DatasetError(StudioError):
    """The training images are unusable; the message names the folder and the offending files."""

    kind = "dataset_error"


class LoraMismatch(StudioError):
    """A LoRA does not fit the base model or the other LoRAs; the message names the LoRA."""

    kind = "lora_mismatch"
