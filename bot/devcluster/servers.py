"""Local Redis and PostgreSQL servers for `stickerbot dev cluster`, from the Debian packages.

Each runs from a fresh temporary directory on a free 127.0.0.1 port and is removed on stop.
PostgreSQL refuses to run as root, so as root its commands run through `runuser -u postgres`.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


class ServerMissing(Exception):
    """A server binary is not installed; the message names the Debian package."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


class LocalRedis:
    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServerMissing("redis-server is not installed: apt-get install redis-server")
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix="stickerbot-cluster-redis-"))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> LocalRedis:
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--dir", str(self.root)]
        self.proc = subprocess.Popen(
            [self.binary, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if not _wait_for_port(self.port, 30):
            self.stop()
            raise ServerMissing("redis-server did not start within 30 s")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)


class LocalPostgres:
    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        initdb = found[-1] if found else shutil.which("initdb")
        if not initdb:
            raise ServerMissing("PostgreSQL is not installed: apt-get install postgresql")
        self.bin = Path(initdb).parent
        self.root = Path(tempfile.mkdtemp(prefix="stickerbot-cluster-pg-"))
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        self.started = False

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        cmd = ["runuser", "-u", "postgres", "--", *args] if self.as_root else list(args)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise ServerMissing(f"{Path(args[0]).name} failed: {proc.stderr.strip()[-300:]}")

    def start(self) -> LocalPostgres:
        sockets = self.root / "sockets"
        sockets.mkdir()
        if self.as_root:
            os.chmod(self.root, 0o755)
            for path in (self.root, sockets):
                shutil.chown(path, "postgres", "postgres")
        data = self.root / "data"
        self._run(str(self.bin / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--no-instructions")  # fmt: skip
        options = f"-p {self.port} -k {sockets} -c listen_addresses=127.0.0.1"
        log = self.root / "server.log"
        self._run(str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start")
        self.started = True
        return self

    def stop(self) -> None:
        if self.started:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)
