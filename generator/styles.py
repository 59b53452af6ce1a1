"""Sticker styles: YAML files in `styles/`, validated by a schema when they are loaded.

This module is torch-free: `bot/` can list and show styles without loading a model.
Style names that come from users are only ever looked up in a loaded `StyleRegistry`;
they never become file-system paths.

A style file looks like::

    name: otter
    description: A round, friendly otter.
    trigger: dm-sticker              # or a list: [dm-sticker, kawaii]
    template: "{expression}, {subject}, {trigger}"
    subject: otter
    negative_prompt: photo, realistic, text
    background: white                # flat colour the prompt asks for: a name, "#rrggbb" or [r, g, b]
    steps: 1                         # 1-4
    outline: true
    matting: flood                   # optional: flood | rembg:<model>
    loras:                           # optional: fused into the UNet weights
      - source: loras/otter.safetensors          # a file next to the style file ...
        scale: 0.8
      - source: artificialguybr/StickersRedmond  # ... or a hub repo id + weight file
        weight_name: StickersRedmond.safetensors
        scale: 1.0
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from generator.api import StyleError, StyleSummary, UnknownStyle
from generator.style_schema import (
    DEFAULT_TEMPLATE,
    HUB_REPO_RE,
    MATTING_RE,
    MAX_LORA_SCALE,
    MAX_LORAS,
    MAX_TEXT_CHARS,
    NAMED_BACKGROUNDS,
    STYLE_NAME_RE,
    TEMPLATE_FIELD_RE,
    TEMPLATE_FIELDS,
    WEIGHT_SUFFIXES,
    LoraEntry,
    StyleFile,
    describe_style_error,
)

__all__ = [
    "DEFAULT_TEMPLATE",
    "HUB_REPO_RE",
    "MATTING_RE",
    "MAX_LORAS",
    "MAX_LORA_SCALE",
    "MAX_STYLE_FILE_BYTES",
    "MAX_TEXT_CHARS",
    "NAMED_BACKGROUNDS",
    "SHIPPED_STYLES_DIR",
    "STYLE_NAME_RE",
    "TEMPLATE_FIELDS",
    "WEIGHT_SUFFIXES",
    "LoraRef",
    "StyleRegistry",
    "StyleSpec",
    "load_style_file",
    "parse_style",
]

SHIPPED_STYLES_DIR = Path(__file__).resolve().parent.parent / "styles"
"""The styles that ship with Stickerbot (the checkout's top-level `styles/`)."""
MAX_STYLE_FILE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class LoraRef:
    """One LoRA of a style: a local `.safetensors` file, or a hub repo id plus its weight file."""

    source: str
    scale: float = 1.0
    weight_name: str | None = None
    revision: str | None = None
    local_path: Path | None = None  # resolved file for local LoRAs; None for hub LoRAs

    @property
    def is_local(self) -> bool:
        return self.local_path is not None

    @property
    def label(self) -> str:
        """A short human-readable name for messages ("owner/repo/file.safetensors" or the file)."""
        if self.local_path is not None:
            return str(self.local_path)
        return f"{self.source}/{self.weight_name}"


@dataclass(frozen=True, slots=True)
class StyleSpec:
    """A validated style file."""

    name: str
    description: str
    triggers: tuple[str, ...]
    template: str = DEFAULT_TEMPLATE
    subject: str = "character"
    negative_prompt: str = ""
    background: tuple[int, int, int] = (255, 255, 255)
    background_name: str = "white"
    steps: int = 1
    outline: bool = True
    matting: str | None = None
    loras: tuple[LoraRef, ...] = ()
    file: Path | None = field(default=None, compare=False)

    @property
    def trigger(self) -> str:
        return ", ".join(self.triggers)

    def build_prompt(self, expression: str, subject: str | None = None) -> str:
        """Fill the template. Only the known placeholders are replaced; braces in user text stay as text."""
        values = {
            "expression": expression.strip(),
            "subject": (subject or self.subject).strip(),
            "trigger": self.trigger,
        }
        filled = TEMPLATE_FIELD_RE.sub(lambda m: values[m.group(1)], self.template)
        # An empty part (e.g. no trigger) must not leave ", ," behind.
        parts = [part.strip() for part in filled.split(",")]
        return ", ".join(part for part in parts if part)

    def summary(self) -> StyleSummary:
        return StyleSummary(
            name=self.name,
            description=self.description,
            template=self.template,
            subject=self.subject,
            trigger=self.trigger,
            negative_prompt=self.negative_prompt,
            background=self.background,
            outline=self.outline,
            steps=self.steps,
        )


# --------------------------------------------------------------------------- validation
def parse_style(data: Any, *, file_label: str, style_dir: Path, file: Path | None = None) -> StyleSpec:
    """Validate one style's parsed YAML mapping (schema: `generator.style_schema.StyleFile`)."""
    if not isinstance(data, dict):
        raise StyleError(f"Style file {file_label}: must be a mapping of fields (name, description, ...).")
    try:
        parsed = StyleFile.model_validate(data)
    except ValidationError as exc:
        raise StyleError(f"Style file {file_label}: {describe_style_error(exc)}.") from None
    background, background_name = parsed.background_rgb
    return StyleSpec(
        name=parsed.name,
        description=parsed.description,
        triggers=parsed.trigger_list,
        template=parsed.template,
        subject=parsed.subject,
        negative_prompt=parsed.negative_prompt,
        background=background,
        background_name=background_name,
        steps=parsed.steps,
        outline=parsed.outline,
        matting=parsed.matting,
        loras=tuple(_lora_ref(entry, style_dir) for entry in parsed.loras),
        file=file,
    )


def _lora_ref(entry: LoraEntry, style_dir: Path) -> LoraRef:
    if entry.source.endswith(".safetensors"):
        local = Path(entry.source)
        local = local if local.is_absolute() else style_dir / local
        return LoraRef(source=entry.source, scale=entry.scale, local_path=local.absolute())
    return LoraRef(
        source=entry.source, scale=entry.scale, weight_name=entry.weight_name, revision=entry.revision
    )


def load_style_file(path: str | Path) -> StyleSpec:
    """Read and validate one style file; any problem raises StyleError naming the file (and field)."""
    file = Path(path)
    label = file.name
    try:
        size = file.stat().st_size
        if size > MAX_STYLE_FILE_BYTES:
            raise StyleError(f"Style file {label}: larger than {MAX_STYLE_FILE_BYTES // 1024} KB.")
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise StyleError(f"Style file {label}: cannot be read ({exc.strerror or exc}).") from exc
    except UnicodeDecodeError as exc:
        raise StyleError(f"Style file {label}: is not UTF-8 text.") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise StyleError(f"Style file {label}: is not valid YAML{where}.") from exc
    return parse_style(data, file_label=label, style_dir=file.parent, file=file)


# --------------------------------------------------------------------------- registry
class StyleRegistry:
    """The styles of one installation, looked up by name only."""

    def __init__(
        self, specs: list[StyleSpec] | tuple[StyleSpec, ...] = (), errors: Mapping[str, str] | None = None
    ):
        self._specs: dict[str, StyleSpec] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise StyleError(f"Two styles are named '{spec.name}'; style names must be unique.")
            self._specs[spec.name] = spec
        self.errors: dict[str, str] = dict(errors or {})

    @classmethod
    def load(cls, directory: str | Path, *, strict: bool = False) -> StyleRegistry:
        """Load every `*.yaml`/`*.yml` file in `directory`.

        A broken file makes only that style unavailable: its error is kept in `errors` (file name →
        message) unless `strict`, which raises the first one. Duplicate names are always an error.
        """
        folder = Path(directory)
        if not folder.is_dir():
            raise StyleError(f"Styles directory {folder} does not exist.")
        specs: list[StyleSpec] = []
        errors: dict[str, str] = {}
        owners: dict[str, str] = {}
        files = sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        for file in files:
            try:
                spec = load_style_file(file)
            except StyleError as exc:
                if strict:
                    raise
                errors[file.name] = exc.user_message
                continue
            if spec.name in owners:
                raise StyleError(
                    f"Style file {file.name}: field 'name' repeats '{spec.name}' "
                    f"(already used by {owners[spec.name]})."
                )
            owners[spec.name] = file.name
            specs.append(spec)
        return cls(specs, errors)

    def get(self, name: str) -> StyleSpec:
        """The style called `name`; UnknownStyle (listing the available ones) otherwise."""
        spec = self._specs.get(name) if isinstance(name, str) else None
        if spec is None:
            shown = f" '{name}'" if isinstance(name, str) and STYLE_NAME_RE.match(name) else ""
            available = ", ".join(self.names()) or "none installed"
            raise UnknownStyle(f"Unknown style{shown}. Available styles: {available}.")
        return spec

    def summary(self, name: str) -> StyleSummary:
        return self.get(name).summary()

    def summaries(self) -> list[StyleSummary]:
        return [spec.summary() for spec in self._specs.values()]

    def names(self) -> list[str]:
        return sorted(self._specs)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._specs

    def __iter__(self) -> Iterator[StyleSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)
