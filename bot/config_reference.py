"""The configuration reference (docs/running/config.md), generated from the pydantic models.

Used as a MkDocs hook (`hooks:` in mkdocs.yml): the page's `<!-- config-reference -->` marker is
replaced at build time, so the reference cannot drift from the code. `python -m bot.config_reference`
prints the same Markdown.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from bot.config import ENV_SECRETS, AppConfig
from bot.config_errors import type_name

MARKER = "<!-- config-reference -->"


def render() -> str:
    """One table per section: key, type, default, what it does (and its limits)."""
    secrets = {dotted: var for var, dotted in ENV_SECRETS.items()}
    parts: list[str] = []
    for section in _keys(AppConfig):
        model = AppConfig.model_fields[section].annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        parts += _section(section, model, secrets)
    return "\n".join(parts)


def _section(prefix: str, model: type[BaseModel], secrets: dict[str, str]) -> list[str]:
    lines = [f"## `{prefix}:`", "", "| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    nested: list[tuple[str, type[BaseModel]]] = []
    for name in _keys(model):
        field = model.model_fields[name]
        dotted = f"{prefix}.{name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            nested.append((dotted, annotation))
            continue
        default = field.get_default(call_default_factory=True)
        meaning = field.description or ""
        limits = _limits(field.metadata)
        if limits:
            meaning = f"{meaning} ({limits})" if meaning else limits
        if dotted in secrets:
            meaning = f"{meaning}; environment: `{secrets[dotted]}`".lstrip("; ")
        shown = "" if default is PydanticUndefined else f"`{_yaml(default)}`"
        lines.append(f"| `{name}` | {type_name(annotation)} | {shown} | {_escape(meaning)} |")
    lines.append("")
    for dotted, sub in nested:
        lines += _section(dotted, sub, secrets)
    return lines


def _keys(model: type[BaseModel]) -> list[str]:
    """Keys in declaration order (the order of config.example.yaml)."""
    return [name for name, field in model.model_fields.items() if not field.exclude]


def _escape(text: str) -> str:
    for raw, safe in (("|", "&#124;"), ("<", "&lt;"), (">", "&gt;"), ("*", "\\*")):
        text = text.replace(raw, safe)
    return text


def _limits(metadata: list[Any]) -> str:
    bounds = {}
    for item in metadata:
        for attr, word in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
            if getattr(item, attr, None) is not None:
                bounds[word] = getattr(item, attr)
    return ", ".join(f"{word} {value}" for word, value in bounds.items())


def _yaml(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return value
    return json.dumps(value)


def on_page_markdown(markdown: str, **_: Any) -> str:
    """MkDocs hook: fill the marker of the page that holds it."""
    return markdown.replace(MARKER, render()) if MARKER in markdown else markdown


if __name__ == "__main__":
    print(render())
