"""Where the one-shot commands (`generate`, `cutout`) write, by one rule for both.

- A path with a file extension is one file, and the extension must match what is written
  (`.webp` stickers, `.png` Discord stickers): `-o y.png` never gets WebP bytes.
- A path ending in `/`, or without an extension, or naming an existing folder, is a folder;
  several stickers (`generate -n 2`) need a folder, never one file name.
- The folder that will hold the output must exist already, with one exception: the last folder of
  `-o DIR/` itself is created. Nothing else is created, so a typo never leaves folders behind.
Everything is checked before any work starts; a refusal is one line (`OutputError`).
"""

from __future__ import annotations

import re
from pathlib import Path

from generator.api import InvalidRequest


class OutputError(InvalidRequest):
    """An output path that breaks the rule above (shown as one line, exit status 2)."""


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "sticker"


def is_folder(output: str) -> bool:
    path = Path(output)
    return output.endswith(("/", "\\")) or path.is_dir() or not path.suffix


def file_path(output: str, suffix: str, *, hint: str = "") -> Path:
    """`output` as one file ending in `suffix`, whose folder exists."""
    path = Path(output)
    if path.suffix.lower() != suffix:
        raise OutputError(f"Output file {output} should end in {suffix}{hint}.")
    if path.is_dir():
        raise OutputError(f"{output} is a folder; give a file name ending in {suffix}.")
    _folder_must_exist(path.parent, output)
    return path


def folder_path(output: str) -> Path:
    """`output` as a folder; created when missing if its own parent folder exists."""
    path = Path(output)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{output} is a file; give a folder for several stickers.")
    _folder_must_exist(path.parent, output)
    return path


def sticker_paths(output: str | None, prompt: str, seed: int, count: int) -> list[Path]:
    """One `.webp` path per candidate: `-o FILE.webp` for one sticker, else `FOLDER/<prompt>-<seed>.webp`
    (in the current folder without `-o`)."""
    names = [f"{slug(prompt)}-{seed + i}.webp" for i in range(max(count, 1))]
    if output is None:
        return [Path(name) for name in names]
    if not is_folder(output):
        if count > 1:
            raise OutputError(
                f"-o {output} names one file but -n {count} makes {count} stickers; "
                f"give a folder instead, e.g. -o {Path(output).with_suffix('')}/."
            )
        return [file_path(output, ".webp")]
    folder = folder_path(output)
    return [folder / name for name in names]


def write(path: Path, data: bytes, *, create_folder: bool = False) -> None:
    """Write `data`; `create_folder` makes the file's own folder (the `-o DIR/` case) first."""
    try:
        if create_folder:
            path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise OutputError(f"Could not write {path}: {exc.strerror or exc}.") from exc


def _folder_must_exist(folder: Path, output: str) -> None:
    if not folder.is_dir():
        raise OutputError(f"Could not write {output}: the folder {folder} does not exist.")
