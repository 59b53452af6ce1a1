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


def find_pg_bin() -> Path:
    """The newest installed PostgreSQL's binaries (Debian keeps one folder per major version)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key, reverse=True)
    initdb = found[0] if found else shutil.which("initdb")
    if not initdb:
        raise ServerMissing("PostgreSQL is not installed: apt-get install postgresql")
    return Path(initdb).parent


def _version_key(path: str) -> int:
    try:
        return int(Path(path).parts[-3])
    except (ValueError, IndexError):
        return 0


class LocalPostgres:
    """A throwaway PostgreSQL server. `scratch=True` (the tests) also turns off what only protects data
    across a crash (fsync, synchronous commit, full-page writes) and stops without a checkpoint."""

    def __init__(self, *, scratch: bool = False, prefix: str = "stickerbot-cluster-pg-") -> None:
        self.bin = find_pg_bin()
        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.scratch = scratch
        self.as_root = os.geteuid() == 0
        self.started = False

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _cmd(self, *args: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *args] if self.as_root else list(args)

    def _run(self, *args: str) -> None:
        proc = subprocess.run(self._cmd(*args), capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            log = self.log.read_text(errors="replace")[-1000:] if self.log.exists() else ""
            raise ServerMissing(
                f"{Path(args[0]).name} failed ({proc.returncode}): {proc.stderr[-1000:]}\n{log}"
            )

    def start(self) -> LocalPostgres:
        self.sockets.mkdir()
        self.log.touch()
        if self.as_root:
            os.chmod(self.root, 0o755)
            for path in (self.root, self.sockets, self.log):
                shutil.chown(path, "postgres", "postgres")
        initdb = [str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust"]
        self._run(*initdb, "-E", "UTF8", *(["--no-sync"] if self.scratch else []), "--no-instructions")
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1"
        if self.scratch:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50"
        pg_ctl = str(self.bin / "pg_ctl")
        self._run(pg_ctl, "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")
        self.started = True
        return self

    def stop(self) -> None:
        if self.started:
            mode = "immediate" if self.scratch else "fast"
            stop = self._cmd(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")
            subprocess.run(stop, capture_output=True, timeout=60)
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)
