"""`stickerbot dev cluster`: starts Redis, PostgreSQL and two bots, prints their URLs, Ctrl-C stops all."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys

import aiohttp
import pytest

from tests.fakes.postgres import free_port
from tests.scale.cluster import ROOT

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


async def test_dev_cluster_starts_and_stops_everything(tmp_path) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "dev", "cluster", "--port", str(port), cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(150):
            while not any("Ctrl-C" in line for line in lines):
                line = (await proc.stdout.readline()).decode()
                assert line, "".join(lines)
                lines.append(line)
            urls = re.findall(r"bot \d:\s+(http://\S+)", "".join(lines))
            assert len(urls) == 2 and "Redis:" in "".join(lines) and "PostgreSQL:" in "".join(lines)
            async with aiohttp.ClientSession() as http:
                for url in urls:
                    while True:  # each bot serves its chat room once it has started
                        try:
                            async with http.get(url) as resp:
                                assert resp.status == 200
                                break
                        except aiohttp.ClientConnectionError:
                            await asyncio.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
        async with asyncio.timeout(90):
            rest = (await proc.stdout.read()).decode()
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
    assert "cluster stopped" in rest and "Traceback" not in rest, rest
