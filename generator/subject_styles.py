"""Names of dynamic "style+subject" styles: a style with a taught subject's LoRA fused on top.

Torch-free, so the engine's scheduler can key batches by them. The subject part is a digest of the
LoRA file's path: a re-taught subject (a new file) is a new style, never a stale cached one.
"""

from __future__ import annotations

import hashlib

MAX_SUBJECT_STYLES = 1024
"""Dynamic style names the engine remembers (their weights are bounded separately, LRU)."""


def base_style_name(name: str) -> str:
    """The installed style a (possibly dynamic) style name is drawn in: "otter+1a2b…" → "otter"."""
    return name.split("+", 1)[0]


def subject_style_name(style: str, lora_path: str) -> str:
    digest = hashlib.sha256(lora_path.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{style}+{digest}"


def subject_content_style_name(style: str, sha256: str) -> str:
    """On the Ray cluster the subject part is the digest of the LoRA's bytes (the replicas never see the
    bot's paths): the same subject is one style on every replica, two different LoRAs never share one."""
    return f"{style}+{sha256}"
