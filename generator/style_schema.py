"""The style file schema as pydantic models, and its errors as one sentence naming the file and the field.

`StyleFile.model_validate(data)` checks a parsed style YAML; `generator.styles.parse_style` turns the
result into a `StyleSpec` (resolving local LoRA paths next to the file). Torch-free.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from generator.api import MAX_STEPS, MIN_STEPS

STYLE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
HUB_REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
MATTING_RE = re.compile(r"^(flood|rembg:[a-z0-9_.-]{1,64})$")
TEMPLATE_FIELD_RE = re.compile(r"\{([^{}]*)\}")
TEMPLATE_FIELDS = frozenset({"expression", "subject", "trigger"})
DEFAULT_TEMPLATE = "{expression}, {subject}, {trigger}"
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


def problem(message: str, field: str | None = None) -> PydanticCustomError:
    """An error shown as "field '<loc>[.<field>]' <message>."."""
    return PydanticCustomError("style", "{message}", {"message": message, "field": field})


def _text(value: str) -> str:
    value = value.strip()
    if len(value) > MAX_TEXT_CHARS:
        raise problem(f"is longer than {MAX_TEXT_CHARS} characters")
    if any(ord(ch) < 32 and ch not in "\t\n" for ch in value):
        raise problem("contains control characters")
    return value


def _non_empty(value: str) -> str:
    if not value:
        raise problem("must not be empty")
    return value


Text = Annotated[str, AfterValidator(_text)]
"""Stripped text of at most MAX_TEXT_CHARS characters, no control characters."""
NonEmptyText = Annotated[str, AfterValidator(_text), AfterValidator(_non_empty)]

_TYPE_PROBLEMS = {
    "steps": f"must be a whole number from {MIN_STEPS} to {MAX_STEPS}",
    "outline": "must be true or false",
    "scale": f"must be a number from -{MAX_LORA_SCALE:g} to {MAX_LORA_SCALE:g}",
    "loras": "must be a list",
    "trigger": "must be text or a list of text",
    "triggers": "must be text or a list of text",
    "matting": "must be 'flood' or 'rembg:<model>'",
    "background": f"must be one of {', '.join(NAMED_BACKGROUNDS)}, '#rrggbb' or [r, g, b] with 0-255 values",
}


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_missing(cls, data: Any) -> Any:
        """`subject:` with nothing after it means the default, as if the key were absent."""
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data


class LoraEntry(_Schema):
    """One `loras:` item: a local `.safetensors` file, or a hub repo id plus its weight file."""

    source: NonEmptyText
    scale: float = Field(1.0, ge=-MAX_LORA_SCALE, le=MAX_LORA_SCALE)
    weight_name: str | None = None
    revision: str | None = None

    @model_validator(mode="after")
    def _source_kind(self) -> LoraEntry:
        source, weight = self.source, self.weight_name
        if source.endswith(".safetensors"):
            if weight is not None:
                raise problem("is only for hub LoRAs; a local source names the file itself", "weight_name")
            if ".." in Path(source).parts or "\\" in source:
                raise problem("must not climb out with '..' (use an absolute path instead)", "source")
            return self
        suffix = Path(source).suffix
        if suffix.lower() in WEIGHT_SUFFIXES or (suffix and not HUB_REPO_RE.match(source)):
            raise problem("must be a .safetensors file (other weight formats are never loaded)", "source")
        if not HUB_REPO_RE.match(source):
            raise problem("must be a local .safetensors file or a hub repo id 'owner/name'", "source")
        if weight is None:
            raise problem("is required for a hub LoRA (the .safetensors file in the repo)", "weight_name")
        if not weight.endswith(".safetensors") or "/" in weight or "\\" in weight or ".." in weight:
            raise problem("must be a .safetensors file name (other formats are never loaded)", "weight_name")
        return self


class StyleFile(_Schema):
    """A style file (`styles/*.yaml`) as written; see `generator.styles` for an example."""

    name: NonEmptyText
    description: NonEmptyText
    trigger: NonEmptyText | list[NonEmptyText] | None = None
    triggers: NonEmptyText | list[NonEmptyText] | None = None
    template: NonEmptyText = DEFAULT_TEMPLATE
    subject: NonEmptyText = "character"
    negative_prompt: Text = ""
    background: str | list[int] = "white"
    steps: int = Field(1, ge=MIN_STEPS, le=MAX_STEPS)
    outline: bool = True
    matting: str | None = None
    loras: list[LoraEntry] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not STYLE_NAME_RE.match(value):
            raise problem("must be 1-32 characters of a-z, 0-9, '-' or '_', starting with a letter or digit")
        return value

    @field_validator("template")
    @classmethod
    def _template(cls, template: str) -> str:
        fields = TEMPLATE_FIELD_RE.findall(template)
        unknown = sorted(set(fields) - TEMPLATE_FIELDS)
        if unknown:
            known = ", ".join("{" + name + "}" for name in sorted(TEMPLATE_FIELDS))
            raise problem(f"has unknown placeholder {{{unknown[0]}}} (known: {known})")
        if "expression" not in fields:
            raise problem("must contain {expression}")
        stray = TEMPLATE_FIELD_RE.sub("", template)
        if "{" in stray or "}" in stray:
            raise problem("has an unmatched brace")
        return template

    @field_validator("background")
    @classmethod
    def _background(cls, value: str | list[int]) -> str | list[int]:
        if isinstance(value, str):
            key = value.strip().lower()
            if key in NAMED_BACKGROUNDS or re.fullmatch(r"#[0-9a-f]{6}", key):
                return key
        elif len(value) == 3 and all(0 <= c <= 255 for c in value):
            return value
        raise problem(_TYPE_PROBLEMS["background"])

    @field_validator("matting")
    @classmethod
    def _matting(cls, value: str | None) -> str | None:
        if value is not None and not MATTING_RE.match(value.strip()):
            raise problem(_TYPE_PROBLEMS["matting"])
        return value.strip() if value is not None else None

    @field_validator("loras")
    @classmethod
    def _lora_count(cls, value: list[LoraEntry]) -> list[LoraEntry]:
        if len(value) > MAX_LORAS:
            raise problem(f"has more than {MAX_LORAS} entries")
        return value

    @model_validator(mode="after")
    def _one_trigger_key(self) -> StyleFile:
        if self.trigger is not None and self.triggers is not None:
            raise problem("cannot be given together with 'trigger'", "triggers")
        return self

    @property
    def trigger_list(self) -> tuple[str, ...]:
        value = self.triggers if self.triggers is not None else self.trigger
        if value is None:
            return ()
        return (value,) if isinstance(value, str) else tuple(value)

    @property
    def background_rgb(self) -> tuple[tuple[int, int, int], str]:
        """(r, g, b) and the name shown for it ("white", "#00ff00")."""
        value = self.background
        if isinstance(value, str):
            if value in NAMED_BACKGROUNDS:
                return NAMED_BACKGROUNDS[value], value
            return (int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)), value
        rgb = (value[0], value[1], value[2])
        return rgb, "#{:02x}{:02x}{:02x}".format(*rgb)


def describe_style_error(exc: ValidationError) -> str:
    """The first problem as "field 'loras[0].scale' must be …" (unknown fields first, like a reader would)."""
    errors = exc.errors(include_url=False)
    errors.sort(key=lambda e: e["type"] != "extra_forbidden")
    error = errors[0]
    ctx = error.get("ctx") or {}
    field = _dotted(error["loc"], ctx.get("field"), keep_last=error["type"] == "extra_forbidden")
    leaf = field.rsplit(".", 1)[-1].split("[")[0]
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"field '{field}' is not a known field"
    if kind == "missing":
        return f"field '{field}' is required"
    if kind == "style":
        return f"field '{field}' {ctx['message']}"
    if kind in ("model_type", "dict_type") and "[" in field:
        return f"field '{field}' must be a mapping with 'source' (and 'weight_name', 'scale')"
    if leaf in _TYPE_PROBLEMS:
        return f"field '{field}' {_TYPE_PROBLEMS[leaf]}"
    if kind == "string_type":
        return f"field '{field}' must be text, not {type(error.get('input')).__name__}"
    return f"field '{field}' {error['msg'].lower()}"


def _dotted(loc: tuple[Any, ...], extra: str | None, *, keep_last: bool = False) -> str:
    """('loras', 0, 'scale') → "loras[0].scale"; union branch tags ("str", "list[…]") are dropped."""
    out = ""
    for index, part in enumerate(loc):
        if keep_last and index == len(loc) - 1:
            out = f"{out}.{part}" if out else str(part)
            break
        if isinstance(part, int):
            if out.split(".")[-1] in ("trigger", "triggers"):
                continue  # one item of a trigger list: the message names the key
            out += f"[{part}]"
        elif part in StyleFile.model_fields or part in LoraEntry.model_fields:
            out = f"{out}.{part}" if out else part
    if extra:
        out = f"{out}.{extra}" if out else extra
    return out
