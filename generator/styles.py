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

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from generator.api import MAX_STEPS, MIN_STEPS, StyleError, StyleSummary, UnknownStyle

STYLE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
HUB_REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
MATTING_RE = re.compile(r"^(flood|rembg:[a-z0-9_.-]{1,64})$")
TEMPLATE_FIELD_RE = re.compile(r"\{([^{}]*)\}")
TEMPLATE_FIELDS = frozenset({"expression", "subject", "trigger"})
DEFAULT_TEMPLATE = "{expression}, {subject}, {trigger}"
SHIPPED_STYLES_DIR = Path(__file__).resolve().parent.parent / "styles"
"""The styles that ship with Stickerbot (the checkout's top-level `styles/`)."""
MAX_STYLE_FILE_BYTES = 64 * 1024
MAX_TEXT_CHARS = 400
MAX_LORAS = 8
MAX_LORA_SCALE = 8.0
WEIGHT_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".h5", ".onnx", ".gguf"})
"""Weight files that are never loaded (pickle-based or foreign): a path ending so is refused, not read as
a hub repo id such as `loras/x.bin`."""

NAMED_BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "white": (255, 255, 255),
    "green": (0, 255, 0),
    "black": (0, 0, 0),
    "magenta": (255, 0, 255),
    "blue": (0, 0, 255),
}

KNOWN_FIELDS = frozenset(
    {
        "name",
        "description",
        "trigger",
        "triggers",
        "template",
        "subject",
        "negative_prompt",
        "background",
        "steps",
        "outline",
        "matting",
        "loras",
    }
)
KNOWN_LORA_FIELDS = frozenset({"source", "weight_name", "scale", "revision"})


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
class _Checker:
    """Field checks that raise StyleError naming the file and the field."""

    def __init__(self, file_label: str) -> None:
        self.file_label = file_label

    def fail(self, field_name: str, problem: str) -> StyleError:
        return StyleError(f"Style file {self.file_label}: field '{field_name}' {problem}.")

    def text(
        self, data: Mapping[str, Any], key: str, default: str | None = None, *, empty_ok: bool = True
    ) -> str:
        if key not in data or data[key] is None:
            if default is None:
                raise self.fail(key, "is required")
            return default
        value = data[key]
        if not isinstance(value, str):
            raise self.fail(key, f"must be text, not {type(value).__name__}")
        value = value.strip()
        if not value and not empty_ok:
            raise self.fail(key, "must not be empty")
        if len(value) > MAX_TEXT_CHARS:
            raise self.fail(key, f"is longer than {MAX_TEXT_CHARS} characters")
        if any(ord(ch) < 32 and ch not in "\t\n" for ch in value):
            raise self.fail(key, "contains control characters")
        return value


def _check_name(check: _Checker, data: Mapping[str, Any]) -> str:
    name = check.text(data, "name", empty_ok=False)
    if not STYLE_NAME_RE.match(name):
        raise check.fail(
            "name", "must be 1-32 characters of a-z, 0-9, '-' or '_', starting with a letter or digit"
        )
    return name


def _check_triggers(check: _Checker, data: Mapping[str, Any]) -> tuple[str, ...]:
    if "trigger" in data and "triggers" in data:
        raise check.fail("triggers", "cannot be given together with 'trigger'")
    key = "triggers" if "triggers" in data else "trigger"
    value = data.get(key)
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise check.fail(key, "must be text or a list of text")
    triggers = tuple(check.text({key: item}, key, empty_ok=False) for item in items)
    return triggers


def _check_template(check: _Checker, data: Mapping[str, Any]) -> str:
    template = check.text(data, "template", DEFAULT_TEMPLATE, empty_ok=False)
    fields = TEMPLATE_FIELD_RE.findall(template)
    unknown = sorted(set(fields) - TEMPLATE_FIELDS)
    if unknown:
        known = ", ".join("{" + name + "}" for name in sorted(TEMPLATE_FIELDS))
        raise check.fail("template", f"has unknown placeholder {{{unknown[0]}}} (known: {known})")
    if "expression" not in fields:
        raise check.fail("template", "must contain {expression}")
    stray = TEMPLATE_FIELD_RE.sub("", template)
    if "{" in stray or "}" in stray:
        raise check.fail("template", "has an unmatched brace")
    return template


def _check_background(check: _Checker, data: Mapping[str, Any]) -> tuple[tuple[int, int, int], str]:
    value = data.get("background", "white")
    if isinstance(value, str):
        key = value.strip().lower()
        if key in NAMED_BACKGROUNDS:
            return NAMED_BACKGROUNDS[key], key
        if re.fullmatch(r"#[0-9a-f]{6}", key):
            rgb = (int(key[1:3], 16), int(key[3:5], 16), int(key[5:7], 16))
            return rgb, key
    elif (
        isinstance(value, list)
        and len(value) == 3
        and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in value)
    ):
        rgb = (value[0], value[1], value[2])
        return rgb, "#{:02x}{:02x}{:02x}".format(*rgb)
    names = ", ".join(NAMED_BACKGROUNDS)
    raise check.fail("background", f"must be one of {names}, '#rrggbb' or [r, g, b] with 0-255 values")


def _check_steps(check: _Checker, data: Mapping[str, Any]) -> int:
    steps = data.get("steps", 1)
    if not isinstance(steps, int) or isinstance(steps, bool) or not MIN_STEPS <= steps <= MAX_STEPS:
        raise check.fail("steps", f"must be a whole number from {MIN_STEPS} to {MAX_STEPS}")
    return steps


def _check_bool(check: _Checker, data: Mapping[str, Any], key: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise check.fail(key, "must be true or false")
    return value


def _check_matting(check: _Checker, data: Mapping[str, Any]) -> str | None:
    value = data.get("matting")
    if value is None:
        return None
    if not isinstance(value, str) or not MATTING_RE.match(value.strip()):
        raise check.fail("matting", "must be 'flood' or 'rembg:<model>'")
    return value.strip()


def _check_lora(check: _Checker, index: int, item: Any, style_dir: Path) -> LoraRef:
    where = f"loras[{index}]"
    if not isinstance(item, dict):
        raise check.fail(where, "must be a mapping with 'source' (and 'weight_name', 'scale')")
    unknown = sorted(set(item) - KNOWN_LORA_FIELDS)
    if unknown:
        raise check.fail(f"{where}.{unknown[0]}", "is not a known field")
    source = check.text(item, "source", empty_ok=False) if "source" in item else None
    if source is None:
        raise check.fail(f"{where}.source", "is required")
    scale = item.get("scale", 1.0)
    if not isinstance(scale, int | float) or isinstance(scale, bool) or not abs(scale) <= MAX_LORA_SCALE:
        raise check.fail(f"{where}.scale", f"must be a number from -{MAX_LORA_SCALE:g} to {MAX_LORA_SCALE:g}")
    weight_name = item.get("weight_name")
    if weight_name is not None and not isinstance(weight_name, str):
        raise check.fail(f"{where}.weight_name", "must be text")
    revision = item.get("revision")
    if revision is not None and not isinstance(revision, str):
        raise check.fail(f"{where}.revision", "must be text")

    if source.endswith(".safetensors"):
        if weight_name is not None:
            raise check.fail(
                f"{where}.weight_name", "is only for hub LoRAs; a local source names the file itself"
            )
        local = Path(source)
        if ".." in local.parts or "\\" in source:
            raise check.fail(f"{where}.source", "must not climb out with '..' (use an absolute path instead)")
        local = local if local.is_absolute() else style_dir / local
        return LoraRef(source=source, scale=float(scale), local_path=local.absolute())
    if Path(source).suffix.lower() in WEIGHT_SUFFIXES or (
        Path(source).suffix and not HUB_REPO_RE.match(source)
    ):
        raise check.fail(
            f"{where}.source", "must be a .safetensors file (other weight formats are never loaded)"
        )
    if not HUB_REPO_RE.match(source):
        raise check.fail(f"{where}.source", "must be a local .safetensors file or a hub repo id 'owner/name'")
    if weight_name is None:
        raise check.fail(
            f"{where}.weight_name", "is required for a hub LoRA (the .safetensors file in the repo)"
        )
    if (
        not weight_name.endswith(".safetensors")
        or "/" in weight_name
        or "\\" in weight_name
        or ".." in weight_name
    ):
        raise check.fail(
            f"{where}.weight_name", "must be a .safetensors file name (other formats are never loaded)"
        )
    return LoraRef(source=source, scale=float(scale), weight_name=weight_name, revision=revision)


def _check_loras(check: _Checker, data: Mapping[str, Any], style_dir: Path) -> tuple[LoraRef, ...]:
    value = data.get("loras")
    if value is None:
        return ()
    if not isinstance(value, list):
        raise check.fail("loras", "must be a list")
    if len(value) > MAX_LORAS:
        raise check.fail("loras", f"has more than {MAX_LORAS} entries")
    return tuple(_check_lora(check, i, item, style_dir) for i, item in enumerate(value))


def parse_style(data: Any, *, file_label: str, style_dir: Path, file: Path | None = None) -> StyleSpec:
    """Validate one style's parsed YAML mapping."""
    check = _Checker(file_label)
    if not isinstance(data, dict):
        raise StyleError(f"Style file {file_label}: must be a mapping of fields (name, description, ...).")
    unknown = sorted(str(key) for key in data if key not in KNOWN_FIELDS)
    if unknown:
        raise check.fail(unknown[0], "is not a known field")
    name = _check_name(check, data)
    background, background_name = _check_background(check, data)
    return StyleSpec(
        name=name,
        description=check.text(data, "description", empty_ok=False),
        triggers=_check_triggers(check, data),
        template=_check_template(check, data),
        subject=check.text(data, "subject", "character", empty_ok=False),
        negative_prompt=check.text(data, "negative_prompt", ""),
        background=background,
        background_name=background_name,
        steps=_check_steps(check, data),
        outline=_check_bool(check, data, "outline", True),
        matting=_check_matting(check, data),
        loras=_check_loras(check, data, style_dir),
        file=file,
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
