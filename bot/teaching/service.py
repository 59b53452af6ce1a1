"""`TeachService`: teach, follow, use and forget taught subjects (see the package docstring).

Files live under `teach.data_dir`, named by job id (never by user input):
`photos/<job>/` (deleted after training unless kept), `runs/<job>/` (checkpoints, deleted when done),
`loras/<job>.safetensors` and `previews/<job>.png` (until forgotten).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.config import ModelConfig, TeachConfig
from bot.storage import Database, DatabaseError
from bot.teaching.errors import TeachError
from bot.teaching.names import clean_name, find_reference, token_for
from bot.teaching.photos import Photo, check_photos, encode_png
from bot.teaching.queue import FairQueue
from bot.teaching.runner import SubprocessTrainer, Trainer, TrainSpec
from bot.teaching.store import ACTIVE, JobRow, SubjectRow, TeachStore
from bot.teaching.subjects import SubjectUse
from bot.types import StickerRecord, StickerRequest

log = logging.getLogger(__name__)

DAY_S = 86400.0
GUESS_S_PER_STEP = {"gpu": 0.5, "cpu": 8.0}  # until a job here has been measured
NOT_ENABLED = "Teaching your own subject is turned off here."


@dataclass(frozen=True, slots=True)
class Teacher:
    """Who asks: the platform, the server (or private chat) and the user; ids the client can't choose."""

    platform: str
    server: str
    user_id: str
    is_admin: bool = False


@dataclass(frozen=True, slots=True)
class TeachProgress:
    job_id: str
    platform: str
    server: str
    user_id: str
    name: str
    status: str  # queued | running | done | failed | forgotten
    step: int = 0
    steps: int = 0
    message: str = ""
    preview: bytes | None = None

    @property
    def percent(self) -> int:
        return 100 if self.status == "done" else int(100 * self.step / self.steps) if self.steps else 0


Listener = Callable[[TeachProgress], Awaitable[None] | None]


class TeachService:
    def __init__(
        self,
        config: TeachConfig,
        model: ModelConfig,
        database: Database,
        *,
        trainer: Trainer | None = None,
    ) -> None:
        self.config = config
        self.model = model
        self.store = TeachStore(database)
        self.trainer: Trainer = trainer or SubprocessTrainer(config.python)
        self.queue = FairQueue(self._run, config.max_concurrent)
        self.root = Path(config.data_dir)
        self._listeners: dict[str, list[Listener]] = {}
        self.on_any: Listener | None = None  # every job's progress (adapters route it by user)
        self._rate: float | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Migrate, then resume what a previous run left queued or running (or fail it with a reason)."""
        await self.store.migrate()
        self._rate = await self.store.last_rate()
        for job in await self.store.jobs_with_status(*ACTIVE):
            if self._lora_path(job.job_id).is_file() or self._photos(job.job_id).is_dir():
                log.info("teach: resuming job %s (%s)", job.job_id, job.status)
                await self.store.update_job(job.job_id, status="queued")
                self.queue.submit(job.server, job.job_id)
            else:
                await self._fail(
                    job, "The bot restarted and the photos for this were lost; please teach again."
                )

    async def close(self) -> None:
        await self.queue.close()

    # ------------------------------------------------------------------ teaching
    def subscribe(self, job_id: str, listener: Listener) -> None:
        self._listeners.setdefault(job_id, []).append(listener)

    async def precheck(self, who: Teacher, raw_name: str) -> str:
        """The checks that need no photos (turned on, the name, may teach here, limits), so an adapter
        can refuse before asking for photos; the clean name, or TeachError."""
        cfg = self.config
        if not cfg.enabled:
            raise TeachError(NOT_ENABLED)
        name = clean_name(raw_name)
        members, _shared = await self.server_settings(who)
        if not members and not who.is_admin:
            raise TeachError("Only the owners can teach me new subjects in this server.")
        jobs = await self.store.user_jobs(who.platform, who.user_id, since=time.time() - DAY_S)
        active = [j for j in jobs if j.status in ACTIVE]
        if active:
            raise TeachError(f"I'm still learning your “{active[0].name}”; one at a time, please.")
        if len(jobs) >= cfg.per_user_per_day:
            raise TeachError(f"You can teach me {cfg.per_user_per_day} subjects a day; try again tomorrow.")
        owned = await self.store.user_subjects(who.platform, who.user_id)
        if len(owned) >= cfg.max_subjects_per_user and name not in {s.name for s in owned}:
            raise TeachError(f"You have {len(owned)} subjects; /forget one first.")
        return name

    async def teach(
        self, who: Teacher, raw_name: str, photos: Sequence[Photo], listener: Listener | None = None
    ) -> TeachProgress:
        """Check everything, store the photos and queue the job; TeachError says why not."""
        cfg = self.config
        name = await self.precheck(who, raw_name)
        checked = await asyncio.to_thread(
            check_photos,
            photos,
            min_count=cfg.min_photos,
            max_count=cfg.max_photos,
            max_bytes=int(cfg.max_photo_mb * 1024 * 1024),
            min_side=cfg.min_photo_side,
            one_subject=cfg.subject_check,
        )
        job_id = uuid.uuid4().hex[:16]
        folder = self._photos(job_id)
        await asyncio.to_thread(_write_photos, folder, [encode_png(p) for p in checked.accepted])
        row = JobRow(
            job_id, who.platform, who.server, who.user_id, name, "queued", 0, cfg.steps,
            len(checked.accepted), cfg.keep_photos, "", 0.0, time.time(),
        )  # fmt: skip
        try:
            await self.store.add_job(row)
        except DatabaseError:
            shutil.rmtree(folder, ignore_errors=True)
            raise TeachError("I couldn't save that right now; please try again later.") from None
        if listener is not None:
            self.subscribe(job_id, listener)
        self.queue.submit(who.server, job_id)
        note = f" (not used: {checked.notes()})" if checked.rejected else ""
        message = (
            f"Got {len(checked.accepted)} photos{note}. I'm learning your “{name}” now; "
            f"{self.estimate(cfg.steps)} Then use it as “my {name}” in a sticker prompt."
        )
        return TeachProgress(
            job_id, who.platform, who.server, who.user_id, name, "queued", 0, cfg.steps, message
        )

    def estimate(self, steps: int) -> str:
        """ "about 12 minutes" from the last measured rate, or a guess by device (CPUs are slow)."""
        cpu = self.model.device == "cpu"
        rate = self._rate or GUESS_S_PER_STEP["cpu" if cpu else "gpu"]
        wait = self.queue.waiting + self.queue.running
        seconds = rate * steps * (1 + wait / max(1, self.config.max_concurrent))
        text = f"about {max(1, round(seconds / 60))} minute{'s' if seconds >= 90 else ''}"
        if cpu or (self._rate is not None and self._rate > 2.0):
            text += " (training on a CPU is slow)"
        if wait:
            text += f", with {wait} ahead in line"
        return text + "."

    # ------------------------------------------------------------------ the job
    async def _run(self, job_id: str) -> None:
        job = await self.store.job(job_id)
        if job is None or job.status not in ACTIVE:
            return
        lora = self._lora_path(job_id)
        preview = self.root / "previews" / f"{job_id}.png"
        if (
            not lora.is_file()
        ):  # a LoRA already written (crash before the database update) is never trained again
            if not self._photos(job_id).is_dir():
                await self._fail(job, "The photos for this are gone; please teach again.")
                return
            await self.store.update_job(job_id, status="running")
            await self._notify(job, "running", 0, "Learning…")
            started = time.monotonic()
            last = [0.0]

            async def progress(step: int, steps: int, rate: float) -> None:
                self._rate = rate
                now = time.monotonic()
                if step < steps and now - last[0] < 1.0:
                    return
                last[0] = now
                await self.store.update_job(job_id, step=step)
                await self._notify(job, "running", step, f"Learning… {step}/{steps}")

            spec = TrainSpec(
                photos=str(self._photos(job_id)),
                run_dir=str(self.root / "runs" / job_id),
                lora_path=str(lora),
                token=token_for(job.name),
                model=self.model.model_dump(mode="json"),
                steps=job.steps,
                rank=self.config.rank,
                learning_rate=self.config.learning_rate,
                resolution=self.config.resolution,
                checkpoint_every=self.config.checkpoint_every,
                preview_path=str(preview),
            )
            try:
                await self.trainer.train(spec, progress)
            except TeachError as exc:
                await self._fail(job, exc.message)
                return
            seconds = time.monotonic() - started
        else:
            seconds = 0.0
        current = await self.store.job(job_id)
        if current is None or current.status not in ACTIVE:  # forgotten while training
            self._delete_files(job_id)
            return
        _, shared = await self.server_settings(Teacher(job.platform, job.server, job.user_id))
        await self.store.finish(job, str(lora), str(preview) if preview.is_file() else "", shared, seconds)
        self._cleanup(job_id, keep_photos=job.keep_photos)
        data = await asyncio.to_thread(preview.read_bytes) if preview.is_file() else None
        await self._notify(
            job, "done", job.steps, f"I know your “{job.name}” now! Try: /sticker my {job.name} waving", data
        )
        self._listeners.pop(job_id, None)

    async def _fail(self, job: JobRow, message: str) -> None:
        await self.store.update_job(job.job_id, status="failed", message=message[:300])
        self._delete_files(job.job_id, keep_photos=job.keep_photos)
        await self._notify(job, "failed", job.step, f"I couldn't learn your “{job.name}”: {message}")
        self._listeners.pop(job.job_id, None)

    async def _notify(
        self, job: JobRow, status: str, step: int, message: str, preview: bytes | None = None
    ) -> None:
        event = TeachProgress(
            job.job_id,
            job.platform,
            job.server,
            job.user_id,
            job.name,
            status,
            step,
            job.steps,
            message,
            preview,
        )
        for listener in [*self._listeners.get(job.job_id, []), *([self.on_any] if self.on_any else [])]:
            try:
                result = listener(event)
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                log.warning("teach progress listener failed", exc_info=True)

    # ------------------------------------------------------------------ forgetting
    async def forget(self, who: Teacher, raw_name: str) -> str:
        name = clean_name(raw_name)
        found = False
        for subject in await self.store.user_subjects(who.platform, who.user_id, who.server):
            if subject.name == name:
                await self._forget_subject(subject)
                found = True
        for job in await self.store.user_jobs(who.platform, who.user_id):
            if job.name == name and job.server == who.server and job.status != "forgotten":
                await self._forget_job(job)
                found = True
        if not found:
            raise TeachError(f"I don't know a “{name}” of yours here.")
        return f"Forgotten: your “{name}”, its photos and what I learned from them."

    async def forget_all(self, who: Teacher) -> str:
        """Everything of this user on this platform, in every server."""
        subjects = await self.store.user_subjects(who.platform, who.user_id)
        for subject in subjects:
            await self._forget_subject(subject)
        jobs = await self.store.user_jobs(who.platform, who.user_id)
        for job in jobs:
            if job.status != "forgotten" or job.created_at < time.time() - DAY_S:
                await self._forget_job(job)
        return f"Forgotten: all your taught subjects ({len(subjects)}), photos and teach records."

    async def _forget_subject(self, subject: SubjectRow) -> None:
        await self.store.delete_subject(subject)
        self._delete_files(subject.job_id)

    async def _forget_job(self, job: JobRow) -> None:
        """Cancel it if active; keep only an anonymous row (for the daily limit) until it is a day old."""
        await self.store.update_job(job.job_id, status="forgotten", name="", message="")
        await self.queue.stop(job.job_id)  # the training child is gone before its files are deleted
        self._delete_files(job.job_id)
        self._listeners.pop(job.job_id, None)
        if job.created_at < time.time() - DAY_S:
            await self.store.delete_jobs([job.job_id])

    # ------------------------------------------------------------------ settings and use
    async def server_settings(self, who: Teacher) -> tuple[bool, bool]:
        """(members may teach, subjects shared with the server); default (True, False)."""
        try:
            found = await self.store.server_settings(who.platform, who.server)
        except DatabaseError:
            return (False, False)
        return found if found is not None else (True, False)

    async def set_server_settings(self, who: Teacher, *, members: bool, shared: bool) -> str:
        if not who.is_admin:
            raise TeachError("Only the owners can change that.")
        await self.store.set_server_settings(who.platform, who.server, members, shared)
        return (
            f"Members {'may' if members else 'may not'} teach subjects here; "
            f"taught subjects are {'shared with everyone here' if shared else 'private to who taught them'}."
        )

    async def change_server_settings(
        self, who: Teacher, *, members: str | None = None, sharing: str | None = None
    ) -> str:
        """From a chat command: members on|off, sharing private|server; what is not given stays."""
        if not who.is_admin:
            raise TeachError("Only the owners can change that.")
        may, shared = await self.server_settings(who)
        if members is not None:
            if members.strip().lower() not in ("on", "off"):
                raise TeachError("members: say on or off.")
            may = members.strip().lower() == "on"
        if sharing is not None:
            if sharing.strip().lower() not in ("private", "server"):
                raise TeachError("sharing: say private or server.")
            shared = sharing.strip().lower() == "server"
        try:
            return await self.set_server_settings(who, members=may, shared=shared)
        except DatabaseError:
            raise TeachError("I couldn't save that setting. Please try again later.") from None

    async def change_server_settings_from(self, who: Teacher, words: str) -> str:
        """`members off sharing server` (or `members:off`), as typed after a chat command."""
        parts = words.replace(":", " ").replace("=", " ").lower().split()
        given = dict(zip(parts[::2], parts[1::2], strict=False))
        if not given or set(given) - {"members", "sharing"} or len(parts) % 2:
            raise TeachError("Say e.g. “members on|off” and/or “sharing private|server”.")
        return await self.change_server_settings(
            who, members=given.get("members"), sharing=given.get("sharing")
        )

    async def subjects(self, who: Teacher) -> list[str]:
        return [s.name for s in await self.store.subjects_visible(who.platform, who.server, who.user_id)]

    async def resolve(self, request: StickerRequest, parent: StickerRecord | None) -> SubjectUse | None:
        """The taught subject a request names ("my dog", "@me:dog"), visible in its server, or None."""
        text = parent.text if parent is not None and not request.text else request.text
        if not text or ("my " not in text.lower() and "@me:" not in text.lower() and "sks " not in text):
            return None
        try:
            visible = await self.store.subjects_visible(
                request.platform, request.scope_server, request.user_id
            )
        except DatabaseError:
            log.warning("taught subjects unavailable", exc_info=True)
            return None
        by_name = {}
        for subject in visible:  # the user's own first (the query's order)
            by_name.setdefault(subject.name, subject)
        reference = find_reference(text, by_name)
        if reference is None:
            return None
        subject = by_name.get(reference.name)
        if subject is None:
            raise TeachError(
                f"I don't know your “{reference.name}” yet; teach me with /teach {reference.name}."
            )
        return SubjectUse(
            reference, text[reference.start : reference.end], subject.lora, text is not request.text
        )

    # ------------------------------------------------------------------ files
    def _photos(self, job_id: str) -> Path:
        return self.root / "photos" / job_id

    def _lora_path(self, job_id: str) -> Path:
        return self.root / "loras" / f"{job_id}.safetensors"

    def _cleanup(self, job_id: str, *, keep_photos: bool) -> None:
        shutil.rmtree(self.root / "runs" / job_id, ignore_errors=True)
        if not keep_photos:
            shutil.rmtree(self._photos(job_id), ignore_errors=True)

    def _delete_files(self, job_id: str, *, keep_photos: bool = False) -> None:
        self._cleanup(job_id, keep_photos=keep_photos)
        for path in (self._lora_path(job_id), self.root / "previews" / f"{job_id}.png"):
            path.unlink(missing_ok=True)


def _write_photos(folder: Path, images: list[bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index, data in enumerate(images):
        (folder / f"photo_{index:02d}.png").write_bytes(data)
