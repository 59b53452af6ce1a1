"""`stickerbot dev cluster`: Redis, PostgreSQL, a local Ray (when installed) and two bot processes on two
ports, all on this machine; prints the URLs and stops everything on Ctrl-C. The same layout as on real
machines (docs/scaling/shared-state.md), for trying it out."""

from __future__ import annotations

import argparse
import importlib.util
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def register_dev(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "cluster",
        help="Redis + PostgreSQL + two bot processes on this machine (Ctrl-C stops all)",
        description=__doc__,
    )
    p.add_argument("--model", metavar="PATH", help="model for both bots (e.g. a `dev tiny-model` directory)")
    p.add_argument("--port", type=int, default=8080, help="web port of the first bot; the next get +1, +2…")
    p.add_argument("--bots", type=int, default=2, help="bot processes (default 2)")
    p.set_defaults(func=_run)


def _bot_config(directory: Path, port: int, storage: str, state: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.yaml"
    path.write_text(
        f"storage:\n  url: {json.dumps(storage)}\n  cache_dir: {directory / 'cache'}\n"
        f"state:\n  url: {state}\nweb:\n  port: {port}\n",
        encoding="utf-8",
    )
    return path


def _run(args: argparse.Namespace) -> int:
    from bot.devcluster.servers import LocalPostgres, LocalRedis

    started: list[LocalRedis | LocalPostgres] = []
    bots: list[subprocess.Popen[bytes]] = []
    stopping = False

    def on_signal(_sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        redis = LocalRedis().start()
        started.append(redis)
        print(f"Redis:      {redis.url}", flush=True)
        pg = LocalPostgres().start()
        started.append(pg)
        print(f"PostgreSQL: {pg.url}", flush=True)
        if importlib.util.find_spec("ray") is None:
            print(
                "Ray:        skipped (not installed: pip install 'stickerbot[ray]'); "
                "each bot runs its own engine"
            )
        else:
            print("Ray:        installed; each bot runs its own engine unless its config names the Ray app")
        work = Path(tempfile.mkdtemp(prefix="stickerbot-cluster-"))
        ports = [args.port + i for i in range(args.bots)]
        for i in range(args.bots):
            config = _bot_config(work / f"bot{i + 1}", ports[i], pg.url, redis.url)
            cmd = [sys.executable, "-m", "bot", "run", "--config", str(config)]
            if args.model:
                cmd += ["--model", args.model]
            bots.append(subprocess.Popen(cmd, cwd=work))
            print(f"bot {i + 1}:      http://127.0.0.1:{ports[i]}  (config {config})", flush=True)
        print("Ctrl-C stops everything.", flush=True)
        while not stopping and all(b.poll() is None for b in bots):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        for bot in bots:
            if bot.poll() is None:
                bot.send_signal(signal.SIGTERM)
        for bot in bots:
            try:
                bot.wait(30)
            except subprocess.TimeoutExpired:
                bot.kill()
        for server in reversed(started):
            server.stop()
        print("cluster stopped", flush=True)
    return 0
