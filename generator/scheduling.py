"""Which queued requests go into the next pipeline call (pure logic, no torch, no asyncio).

Rules:
- a batch holds requests of one *batch key* (style, size, steps) only, up to `max_images` images;
- the style whose fused weights are already active is preferred, because switching costs a
  re-fuse of the UNet weights;
- but a request of another style is passed over by at most `patience` batches: after that the
  oldest request is served whatever its style, so no style starves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar


@dataclass(frozen=True, slots=True)
class BatchKey:
    """Requests with equal keys can share one pipeline call."""

    style: str
    width: int
    height: int
    steps: int


class Schedulable(Protocol):
    """What the scheduler needs to know about a queued request."""

    @property
    def key(self) -> BatchKey: ...

    @property
    def images(self) -> int: ...

    passed_over: int


J = TypeVar("J", bound=Schedulable)


def choose_batch(pending: Sequence[J], active_style: str | None, max_images: int, patience: int) -> list[J]:
    """Pick the next batch from `pending` (oldest first). Returns [] only when `pending` is empty.

    A single request bigger than `max_images` still runs, alone.
    """
    if not pending:
        return []
    oldest = pending[0]
    lead = oldest
    if active_style is not None and oldest.key.style != active_style and oldest.passed_over < patience:
        lead = next((job for job in pending if job.key.style == active_style), oldest)
    batch = [lead]
    images = lead.images
    for job in pending:
        if job is lead or job.key != lead.key:
            continue
        if images + job.images > max_images:
            continue
        batch.append(job)
        images += job.images
        if images >= max_images:
            break
    return batch


def mark_passed_over(pending: Sequence[J], batch: Sequence[J]) -> None:
    """Count one more skip for every request older than the batch's lead that the batch left behind."""
    if not batch:
        return
    chosen = {id(job) for job in batch}
    lead = batch[0]
    for job in pending:
        if job is lead:
            break
        if id(job) not in chosen:
            job.passed_over += 1


def batch_images(batch: Sequence[J]) -> int:
    return sum(job.images for job in batch)
