"""Names and paths the studio writes to: validated so user input never escapes the output directory."""

from __future__ import annotations

import re
from pathlib import Path

from generator.training.errors import StudioError

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


def validate_name(name: str, what: str = "style name") -> str:
    """Return `name` if it is a safe style name (lowercase letters, digits, `_`, `-`; at most 32)."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise StudioError(
            f"Invalid {what} {name!r}: use 1-32 lowercase letters, digits, '_' or '-', "
            "starting with a letter or digit."
        )
    return name


def inside(root: str | Path, *parts: str) -> Path:
    """`root/parts...` resolved, refusing any result outside `root` (`..`, absolute parts, symlinks)."""
    base = Path(root).resolve()
    target = base.joinpath(*parts).resolve()
    if target != base and base not in target.parents:
        raise StudioError(f"Refusing to write outside {base}: {'/'.join(parts)!r}.")
    return target


def prepare_dir(root: str | Path, *parts: str) -> Path:
    """Create (if needed) and return the directory `root/parts...`, checked with `inside`."""
    path = inside(root, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
