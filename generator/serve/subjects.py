"""Taught subjects on the cluster: a subject's LoRA travels from the bot to the replicas by content.

Replicas cannot read the bot's files, so:
- the bot's side (`SubjectShipper`, torch-free) reads a subject's `.safetensors` once per
  (path, size, mtime), checks that it is a safetensors file, hashes it (sha256) and `ray.put`s the bytes;
  every request for that subject then carries the same `SubjectLora(digest, ref)`;
- a replica's side (`SubjectCache`) keeps a node-local, content-addressed folder (`<sha256>.safetensors`):
  a digest already there needs no transfer; otherwise the bytes are fetched from the object store,
  their digest and header are checked, and the file is written atomically. The LoRA is then fused as
  the local engine fuses it (`generator.subject_lora` through `StickerPipeline.add_subject_style`).

The dynamic style's name, `style+<sha256>` (`subject_styles.subject_content_style_name`), is the
multiplexed model id, so requests for one subject go to a replica that has it fused, and two servers'
subjects (different bytes) can never share a name. Which subject a request may use is decided by the
bot, never here.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import struct
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.api import StyleError
from generator.serve.wire import SubjectLora

MAX_SUBJECT_BYTES = 512 * 1024**2
"""Largest subject LoRA shipped to the cluster (a taught subject is a few MB)."""
MAX_HEADER_BYTES = 100 * 1024**2
SHIPPED_SUBJECTS = 64
"""Subjects whose object-store copy the bot keeps referenced (least recently used are released)."""
CACHED_FILES = 256
"""Subject files a node keeps in its cache folder (least recently used are deleted)."""
UNREADABLE = "That taught subject cannot be drawn (its LoRA is unreadable)."
_DIGEST = re.compile(r"[0-9a-f]{64}")


def check_safetensors(data: bytes, label: str) -> None:
    """A structural check without torch: an 8-byte header length, a JSON header of tensors whose data
    offsets cover exactly the rest of the file. Raises `StyleError` with one line for users."""

    def bad(why: str) -> StyleError:
        return StyleError(UNREADABLE, detail=f"{label}: {why}")

    if len(data) < 8:
        raise bad("not a safetensors file (too short)")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > min(MAX_HEADER_BYTES, len(data) - 8):
        raise bad("not a safetensors file (bad header)")
    try:
        header = json.loads(data[8 : 8 + header_len])
    except (ValueError, UnicodeDecodeError):
        raise bad("not a safetensors file (header is not JSON)") from None
    if not isinstance(header, dict):
        raise bad("not a safetensors file (header is not an object)")
    ends = []
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and 0 <= offsets[0] <= offsets[1]):
            raise bad(f"not a safetensors file (tensor {key!r} has no data offsets)")
        ends.append(offsets[1])
    if not ends:
        raise bad("the file holds no tensors")
    if max(ends) != len(data) - 8 - header_len:
        raise bad("the file is truncated or has trailing bytes")


# ---------------------------------------------------------------------------------------------- bot side
@dataclass(frozen=True, slots=True)
class _Shipped:
    size: int
    mtime_ns: int
    subject: SubjectLora


class SubjectShipper:
    """The bot's side: one object-store copy per subject file (re-read when the file changes)."""

    def __init__(self, limit: int = SHIPPED_SUBJECTS) -> None:
        self._limit = limit
        self._shipped: OrderedDict[str, _Shipped] = OrderedDict()
        self._lock = asyncio.Lock()  # one read + put per file, even under a burst
        self.reads = 0  # files read and put (for tests and figures)

    async def ship(self, lora_path: str) -> SubjectLora:
        async with self._lock:
            try:
                stat = await asyncio.to_thread(os.stat, lora_path)
            except OSError as exc:
                raise StyleError(UNREADABLE, detail=f"{Path(lora_path).name}: {exc.strerror}") from None
            known = self._shipped.get(lora_path)
            if known is not None and (known.size, known.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
                self._shipped.move_to_end(lora_path)
                return known.subject
            subject = await asyncio.to_thread(_read_and_put, Path(lora_path), stat.st_size)
            self.reads += 1
            self._shipped[lora_path] = _Shipped(stat.st_size, stat.st_mtime_ns, subject)
            while len(self._shipped) > self._limit:
                self._shipped.popitem(last=False)  # its ObjectRef goes, so Ray may free the bytes
            return subject

    def clear(self) -> None:
        """Forget every copy (the cluster was left; its object store went with it)."""
        self._shipped.clear()


def _read_and_put(path: Path, size: int) -> SubjectLora:
    import ray

    if path.suffix != ".safetensors":
        raise StyleError(UNREADABLE, detail=f"{path.name}: only .safetensors files are loaded")
    if size > MAX_SUBJECT_BYTES:
        raise StyleError(UNREADABLE, detail=f"{path.name}: {size} bytes is over the limit")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StyleError(UNREADABLE, detail=f"{path.name}: {exc.strerror}") from None
    check_safetensors(data, path.name)
    return SubjectLora(digest=hashlib.sha256(data).hexdigest(), size=len(data), data=ray.put(data))


# ------------------------------------------------------------------------------------------ replica side
def default_cache_dir() -> Path:
    """Node-local: under the system's temporary folder, private to this user."""
    return Path(tempfile.gettempdir()) / f"stickerbot-subjects-{os.getuid()}"


class SubjectCache:
    """A replica's side: `<sha256>.safetensors` files in a node-local folder shared by its replicas."""

    def __init__(self, directory: Path | None = None, limit: int = CACHED_FILES) -> None:
        self.directory = directory or default_cache_dir()
        self._limit = limit
        self._verified: set[str] = set()  # digests this replica has checked on disk
        self.fetches = 0  # subjects whose bytes came through the object store to this replica

    async def path_for(self, subject: SubjectLora) -> Path:
        """The subject's file on this node, fetched and checked on first use."""
        if not _DIGEST.fullmatch(subject.digest):
            raise StyleError(UNREADABLE, detail="malformed digest")
        target = self.directory / f"{subject.digest}.safetensors"
        if subject.digest in self._verified and await asyncio.to_thread(target.exists):
            return target
        if not await asyncio.to_thread(_touch_if_intact, target, subject.digest):
            data = await subject.data  # from the object store (the bot's node, or a node that has it)
            self.fetches += 1
            await asyncio.to_thread(self._store, target, subject.digest, data)
        self._verified.add(subject.digest)
        return target

    def _store(self, target: Path, digest: str, data: Any) -> None:
        if not isinstance(data, bytes) or hashlib.sha256(data).hexdigest() != digest:
            raise StyleError(UNREADABLE, detail="the bytes that arrived do not match their digest")
        check_safetensors(data, target.name)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.directory, suffix=".partial", delete=False) as handle:
            handle.write(data)
        os.replace(handle.name, target)  # atomic: other replicas on the node see all of it or nothing
        self._trim()

    def _trim(self) -> None:
        files = sorted(self.directory.glob("*.safetensors"), key=_mtime, reverse=True)
        for old in files[self._limit :]:
            old.unlink(missing_ok=True)


def _touch_if_intact(target: Path, digest: str) -> bool:
    """True when `target` is there with the right content (re-hashed once per replica and subject)."""
    try:
        data = target.read_bytes()
    except OSError:
        return False
    if hashlib.sha256(data).hexdigest() != digest:
        target.unlink(missing_ok=True)
        return False
    os.utime(target)  # recently used: kept by `_trim`
    return True


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
