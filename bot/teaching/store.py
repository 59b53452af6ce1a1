"""Durable teach jobs, taught subjects and per-server teach settings (namespace "teach").

A job is queued → running → done | failed | forgotten. A subject row exists only for a finished
LoRA; it is written in the same transaction that marks its job done, so a restart can never see a
"done" job without its subject, nor a subject whose LoRA was not completely written first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.storage import Database, register_migrations

register_migrations(
    "teach",
    [
        """CREATE TABLE teach_jobs (
            job_id TEXT PRIMARY KEY,
            platform TEXT NOT NULL,
            server TEXT NOT NULL,
            user_id TEXT NOT NULL,
            name TEXT NOT NULL,
            status TEXT NOT NULL,
            step INTEGER NOT NULL DEFAULT 0,
            steps INTEGER NOT NULL,
            photos INTEGER NOT NULL,
            keep_photos INTEGER NOT NULL DEFAULT 0,
            message TEXT NOT NULL DEFAULT '',
            seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL
        )""",
        "CREATE INDEX teach_jobs_user ON teach_jobs (platform, user_id, created_at)",
        "CREATE INDEX teach_jobs_status ON teach_jobs (status)",
        """CREATE TABLE teach_subjects (
            platform TEXT NOT NULL,
            server TEXT NOT NULL,
            user_id TEXT NOT NULL,
            name TEXT NOT NULL,
            job_id TEXT NOT NULL,
            lora TEXT NOT NULL,
            preview TEXT NOT NULL DEFAULT '',
            shared INTEGER NOT NULL DEFAULT 0,
            created_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (platform, server, user_id, name)
        )""",
        """CREATE TABLE teach_servers (
            platform TEXT NOT NULL,
            server TEXT NOT NULL,
            members_may_teach INTEGER NOT NULL,
            shared INTEGER NOT NULL,
            PRIMARY KEY (platform, server)
        )""",
    ],
)

ACTIVE = ("queued", "running")
_JOB_COLUMNS = (
    "job_id, platform, server, user_id, name, status, step, steps, photos, keep_photos, message, seconds, "
    "created_at"
)


@dataclass(frozen=True, slots=True)
class JobRow:
    job_id: str
    platform: str
    server: str
    user_id: str
    name: str
    status: str
    step: int
    steps: int
    photos: int
    keep_photos: bool
    message: str
    seconds: float
    created_at: float


@dataclass(frozen=True, slots=True)
class SubjectRow:
    platform: str
    server: str
    user_id: str
    name: str
    job_id: str
    lora: str
    preview: str
    shared: bool


def _job(row: tuple) -> JobRow:
    values = list(row)
    values[9] = bool(values[9])
    return JobRow(*values)


def _subject(row: tuple) -> SubjectRow:
    values = list(row)
    values[7] = bool(values[7])
    return SubjectRow(*values)


class TeachStore:
    def __init__(self, database: Database) -> None:
        self.db = database

    async def migrate(self) -> None:
        await self.db.migrate("teach")

    # ------------------------------------------------------------------ jobs
    async def add_job(self, job: JobRow) -> None:
        await self.db.execute(
            f"INSERT INTO teach_jobs ({_JOB_COLUMNS}, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (*_row(job), time.time()),
        )

    async def job(self, job_id: str) -> JobRow | None:
        row = await self.db.fetchone(f"SELECT {_JOB_COLUMNS} FROM teach_jobs WHERE job_id = ?", (job_id,))
        return _job(row) if row else None

    async def jobs_with_status(self, *statuses: str) -> list[JobRow]:
        marks = ",".join("?" for _ in statuses)
        rows = await self.db.fetchall(
            f"SELECT {_JOB_COLUMNS} FROM teach_jobs WHERE status IN ({marks}) ORDER BY created_at", statuses
        )
        return [_job(r) for r in rows]

    async def user_jobs(self, platform: str, user_id: str, since: float = 0.0) -> list[JobRow]:
        rows = await self.db.fetchall(
            f"SELECT {_JOB_COLUMNS} FROM teach_jobs WHERE platform = ? AND user_id = ? AND created_at >= ? "
            "ORDER BY created_at",
            (platform, user_id, since),
        )
        return [_job(r) for r in rows]

    async def update_job(self, job_id: str, **values: object) -> None:
        sets = ", ".join(f"{key} = ?" for key in values)
        await self.db.execute(
            f"UPDATE teach_jobs SET {sets}, updated_at = ? WHERE job_id = ?",
            (*values.values(), time.time(), job_id),
        )

    async def finish(self, job: JobRow, lora: str, preview: str, shared: bool, seconds: float) -> None:
        """Mark `job` done and install its subject (replacing an older one of that name), atomically."""
        now = time.time()
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE teach_jobs SET status = 'done', step = steps, message = '', seconds = ?, "
                "updated_at = ? WHERE job_id = ?",
                (seconds, now, job.job_id),
            )
            await tx.execute(
                "DELETE FROM teach_subjects WHERE platform = ? AND server = ? AND user_id = ? AND name = ?",
                (job.platform, job.server, job.user_id, job.name),
            )
            await tx.execute(
                "INSERT INTO teach_subjects (platform, server, user_id, name, job_id, lora, preview, shared, "
                "created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    job.platform,
                    job.server,
                    job.user_id,
                    job.name,
                    job.job_id,
                    lora,
                    preview,
                    int(shared),
                    now,
                ),
            )

    async def delete_jobs(self, job_ids: list[str]) -> None:
        async with self.db.transaction() as tx:
            for job_id in job_ids:
                await tx.execute("DELETE FROM teach_jobs WHERE job_id = ?", (job_id,))

    async def last_rate(self) -> float | None:
        """Seconds per step of the newest finished job."""
        row = await self.db.fetchone(
            "SELECT seconds, steps FROM teach_jobs WHERE status = 'done' AND seconds > 0 "
            "ORDER BY updated_at DESC LIMIT 1"
        )
        return float(row[0]) / max(1, int(row[1])) if row else None

    # ------------------------------------------------------------------ subjects
    async def subjects_visible(self, platform: str, server: str, user_id: str) -> list[SubjectRow]:
        """The user's own subjects in this server, and those others shared with it."""
        rows = await self.db.fetchall(
            "SELECT platform, server, user_id, name, job_id, lora, preview, shared FROM teach_subjects "
            "WHERE platform = ? AND server = ? AND (user_id = ? OR shared = 1) ORDER BY user_id = ? DESC",
            (platform, server, user_id, user_id),
        )
        return [_subject(r) for r in rows]

    async def user_subjects(self, platform: str, user_id: str, server: str | None = None) -> list[SubjectRow]:
        sql = (
            "SELECT platform, server, user_id, name, job_id, lora, preview, shared FROM teach_subjects "
            "WHERE platform = ? AND user_id = ?"
        )
        params: tuple = (platform, user_id)
        if server is not None:
            sql += " AND server = ?"
            params += (server,)
        return [_subject(r) for r in await self.db.fetchall(sql, params)]

    async def delete_subject(self, subject: SubjectRow) -> None:
        await self.db.execute(
            "DELETE FROM teach_subjects WHERE platform = ? AND server = ? AND user_id = ? AND name = ?",
            (subject.platform, subject.server, subject.user_id, subject.name),
        )

    # ------------------------------------------------------------------ server settings
    async def server_settings(self, platform: str, server: str) -> tuple[bool, bool] | None:
        row = await self.db.fetchone(
            "SELECT members_may_teach, shared FROM teach_servers WHERE platform = ? AND server = ?",
            (platform, server),
        )
        return (bool(row[0]), bool(row[1])) if row else None

    async def set_server_settings(self, platform: str, server: str, members: bool, shared: bool) -> None:
        await self.db.execute(
            "INSERT INTO teach_servers (platform, server, members_may_teach, shared) VALUES (?,?,?,?) "
            "ON CONFLICT (platform, server) DO UPDATE SET members_may_teach = excluded.members_may_teach, "
            "shared = excluded.shared",
            (platform, server, int(members), int(shared)),
        )


def _row(job: JobRow) -> tuple:
    return (
        job.job_id,
        job.platform,
        job.server,
        job.user_id,
        job.name,
        job.status,
        job.step,
        job.steps,
        job.photos,
        int(job.keep_photos),
        job.message,
        job.seconds,
        job.created_at,
    )
