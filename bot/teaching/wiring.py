"""Attaching teaching to a running sticker service when `teach.enabled` (one call from the app)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.teaching.runner import Trainer
from bot.teaching.service import TeachService

if TYPE_CHECKING:
    from bot.service import StickerService

log = logging.getLogger(__name__)


async def attach_teaching(service: StickerService, trainer: Trainer | None = None) -> TeachService | None:
    """Start a `TeachService` on the service's database (resuming unfinished jobs) and let the
    service resolve "my dog" in prompts; None when teaching is off."""
    config = service.config
    if not config.teach.enabled:
        return None
    if trainer is None and config.engine.backend == "ray":  # train on the sticker cluster
        from bot.teaching.ray_runner import RayTrainer

        trainer = RayTrainer(config.engine.ray.address)
    teaching = TeachService(config.teach, config.model, service.database, trainer=trainer)
    await teaching.start()
    service.teaching = teaching
    log.info("teaching is on: subjects in %s", config.teach.data_dir)
    return teaching


def teaching_of(service: object) -> TeachService | None:
    """The running `TeachService` of a sticker service (adapters see it as `StickerServiceAPI`), or
    None when teaching is off."""
    teaching = getattr(service, "teaching", None)
    return teaching if isinstance(teaching, TeachService) else None
