"""TeachService: queue, durable jobs, limits, permissions, privacy across servers, forget, restart."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.teaching.errors import TeachError
from bot.teaching.service import Teacher, TeachProgress, TeachService
from bot.types import StickerRequest
from tests.teach.conftest import StepTrainer
from tests.teach.helpers import dog_photos

ALICE = Teacher("web", "room1", "alice")


async def wait_for(predicate: Callable[[], bool], within_s: float = 10.0) -> None:
    async with asyncio.timeout(within_s):
        while not predicate():  # noqa: ASYNC110 (polling state the service changes)
            await asyncio.sleep(0.01)


def request(user: str, text: str, server: str = "room1") -> StickerRequest:
    return StickerRequest(platform="web", user_id=user, conversation_id=server, server_id=server, text=text)


async def test_teach_progress_done_use_and_forget(make_teaching: Callable, tmp_path: Path) -> None:
    trainer = StepTrainer()
    teaching: TeachService = await make_teaching(trainer)
    events: list[TeachProgress] = []
    accepted = await teaching.teach(ALICE, "Dog", dog_photos(4), events.append)
    assert accepted.status == "queued" and "“dog”" in accepted.message
    assert "minute" in accepted.message and "CPU is slow" in accepted.message
    await wait_for(lambda: any(e.status == "running" and e.step == 1 for e in events))
    assert len(list((tmp_path / "teach" / "photos" / accepted.job_id).iterdir())) == 4
    trainer.release.set()
    await wait_for(lambda: any(e.status == "done" for e in events))
    done = events[-1]
    assert (done.preview or b"").startswith(b"\x89PNG") and "/sticker my dog" in done.message
    assert not (tmp_path / "teach" / "photos" / accepted.job_id).exists()  # photos deleted after training
    assert await teaching.subjects(ALICE) == ["dog"]

    use = await teaching.resolve(request("alice", "my dog waving"), None)
    assert use is not None and use.token == "sks dog" and use.lora.endswith(f"{accepted.job_id}.safetensors")
    assert await teaching.resolve(request("bob", "my dog waving"), None) is None  # private to alice
    assert await teaching.resolve(request("alice", "my dog waving", server="room2"), None) is None
    with pytest.raises(TeachError, match="teach me with /teach rex"):
        await teaching.resolve(request("alice", "@me:rex waving"), None)

    assert "Forgotten" in await teaching.forget(ALICE, "dog")
    assert not list((tmp_path / "teach").rglob("*.safetensors")) and not list(
        (tmp_path / "teach").rglob("*.png")
    )
    assert await teaching.subjects(ALICE) == []
    with pytest.raises(TeachError, match="don't know"):
        await teaching.forget(ALICE, "dog")


async def test_one_at_a_time_and_a_daily_limit(make_teaching: Callable) -> None:
    trainer = StepTrainer()
    teaching = await make_teaching(trainer, per_user_per_day=2)
    first = await teaching.teach(ALICE, "dog", dog_photos(4))
    with pytest.raises(TeachError, match="one at a time"):
        await teaching.teach(ALICE, "cat", dog_photos(4, start=10))
    trainer.release.set()
    await wait_for(lambda: teaching.queue.running == 0)
    assert (await teaching.store.job(first.job_id)).status == "done"  # type: ignore[union-attr]
    await teaching.teach(ALICE, "cat", dog_photos(4, start=10))
    await wait_for(lambda: teaching.queue.running == 0)
    with pytest.raises(TeachError, match="2 subjects a day"):
        await teaching.teach(ALICE, "bird", dog_photos(4, start=20))
    await teaching.forget_all(ALICE)  # forgetting does not reset the daily limit
    with pytest.raises(TeachError, match="a day"):
        await teaching.teach(ALICE, "bird", dog_photos(4, start=20))


async def test_owner_settings_members_and_sharing(make_teaching: Callable) -> None:
    trainer = StepTrainer()
    trainer.release.set()
    teaching = await make_teaching(trainer)
    owner = Teacher("web", "room1", "owner", is_admin=True)
    with pytest.raises(TeachError, match="Only the owners"):
        await teaching.set_server_settings(ALICE, members=False, shared=True)
    await teaching.set_server_settings(owner, members=False, shared=True)
    with pytest.raises(TeachError, match="Only the owners can teach"):
        await teaching.teach(ALICE, "dog", dog_photos(4))
    await teaching.teach(owner, "mascot", dog_photos(4))
    await wait_for(lambda: teaching.queue.running == 0)
    assert await teaching.resolve(request("bob", "my mascot waving"), None) is not None  # shared here
    assert await teaching.resolve(request("bob", "my mascot waving", server="room2"), None) is None


async def test_disabled_bad_names_and_bad_photos_get_one_sentence(make_teaching: Callable) -> None:
    teaching = await make_teaching(StepTrainer())
    for name, photos, said in [
        ("../../etc", dog_photos(4), "short name"),
        ("dog", [], "got no photos"),
        ("dog", dog_photos(1), "got 1 photo"),
    ]:
        with pytest.raises(TeachError, match=said):
            await teaching.teach(ALICE, name, photos)
    off = await make_teaching(StepTrainer(), enabled=False)
    with pytest.raises(TeachError, match="turned off"):
        await off.teach(ALICE, "dog", dog_photos(4))


async def test_queue_is_fair_across_servers_and_bounded(make_teaching: Callable) -> None:
    trainer = StepTrainer()
    teaching = await make_teaching(trainer, per_user_per_day=10)
    for i in range(4):
        await teaching.teach(Teacher("web", "busy", f"u{i}"), "dog", dog_photos(4, start=10 * i))
    await teaching.teach(Teacher("web", "quiet", "q"), "dog", dog_photos(4, start=99))
    assert teaching.queue.running == 1
    trainer.release.set()
    await wait_for(lambda: teaching.queue.running == 0 and teaching.queue.waiting == 0)
    servers = [server for server, _ in teaching.queue.started]
    assert servers[:2] == ["busy", "quiet"]  # the quiet server's one job is second, not fifth


async def test_restart_resumes_running_jobs_and_never_trains_a_finished_lora_twice(
    make_teaching: Callable, tmp_path: Path
) -> None:
    blocked = StepTrainer()
    first = await make_teaching(blocked)
    job = await first.teach(ALICE, "dog", dog_photos(4))
    await wait_for(lambda: bool(blocked.calls))
    await first.close()  # the bot stops mid-training
    assert (await first.store.job(job.job_id)).status == "running"  # type: ignore[union-attr]

    trainer = StepTrainer()
    trainer.release.set()
    second = await make_teaching(trainer)
    await wait_for(lambda: second.queue.running == 0 and bool(trainer.calls))
    assert (await second.store.job(job.job_id)).status == "done"  # type: ignore[union-attr]
    assert trainer.calls[0].run_dir.endswith(job.job_id)  # the worker resumes from this run's checkpoints

    # A LoRA written just before a crash (the database still says "running") is used, not retrained.
    other = await second.teach(Teacher("web", "room1", "bob"), "cat", dog_photos(4, start=10))
    await wait_for(lambda: second.queue.running == 0)
    await second.store.update_job(other.job_id, status="running")
    await second.close()
    third_trainer = StepTrainer()
    third = await make_teaching(third_trainer)
    await wait_for(lambda: third.queue.running == 0)
    assert third_trainer.calls == []
    assert (await third.store.job(other.job_id)).status == "done"  # type: ignore[union-attr]


async def test_restart_without_the_photos_fails_with_a_message(
    make_teaching: Callable, tmp_path: Path
) -> None:
    import shutil

    first = await make_teaching(StepTrainer())
    job = await first.teach(ALICE, "dog", dog_photos(4))
    await wait_for(lambda: first.queue.running == 1)
    await first.close()
    shutil.rmtree(tmp_path / "teach" / "photos" / job.job_id)
    second = await make_teaching(StepTrainer())
    row = await second.store.job(job.job_id)
    assert row is not None and row.status == "failed" and "photos" in row.message
    assert await second.subjects(ALICE) == []


async def test_forget_during_training_stops_it_and_leaves_no_files(
    make_teaching: Callable, tmp_path: Path
) -> None:
    trainer = StepTrainer()
    teaching = await make_teaching(trainer)
    job = await teaching.teach(ALICE, "dog", dog_photos(4))
    await wait_for(lambda: bool(trainer.calls))
    await teaching.forget(ALICE, "dog")
    assert teaching.queue.running == 0
    assert not [p for p in (tmp_path / "teach").rglob("*") if p.is_file()]
    row = await teaching.store.job(job.job_id)
    assert row is not None and row.status == "forgotten" and row.name == ""


async def test_an_unreachable_ray_cluster_fails_the_job_in_one_line(make_teaching) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'stickerbot[ray]'")
    import socket

    from bot.teaching.ray_runner import RayTrainer

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    teaching = await make_teaching(RayTrainer(f"127.0.0.1:{port}"))
    events: list[TeachProgress] = []
    done = asyncio.Event()

    def listen(event: TeachProgress) -> None:
        events.append(event)
        if event.status in ("done", "failed"):
            done.set()

    await teaching.teach(Teacher("web", "room", "alice"), "dog", dog_photos(4), listen)
    async with asyncio.timeout(30):
        await done.wait()
    assert events[-1].status == "failed"
    assert events[-1].message.endswith(
        "The training cluster is unavailable right now; please try again later."
    )
