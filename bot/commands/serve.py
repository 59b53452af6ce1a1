"""`stickerbot serve --config FILE` deploys the generator onto a Ray cluster; `--status` reports on it.

The bot itself then runs with `engine.backend: ray` (docs/scaling/ray.md). Without `engine.ray.address`
a local Ray starts in this process and serves until Ctrl-C (for trying it on one machine).
"""

from __future__ import annotations

import argparse
import os
import signal

from bot.config import load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `stickerbot serve`."""
    p = subparsers.add_parser(
        "serve",
        help="deploy sticker generation onto a Ray Serve cluster (or --status: its replicas)",
        description="Deploy the generator (model: and engine: sections of the config) as a Ray Serve app on "
        "engine.ray.address, print where it runs and which styles it serves. Needs pip install "
        "'stickerbot[ray]'.",
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        default=os.environ.get("STICKERBOT_CONFIG"),
        help="YAML config (engine.ray.*); default $STICKERBOT_CONFIG or built-in defaults",
    )
    p.add_argument("--status", action="store_true", help="show the app's replicas and their hot styles")
    p.set_defaults(func=serve_command)


def serve_command(args: argparse.Namespace) -> int:
    from generator.serve.admin import connect, deploy, report

    config = load_config(args.config)
    ray_cfg = config.engine.ray
    if args.status:
        connect(ray_cfg.address or "auto")
        print_report(report(config.engine))
        return 0
    local = connect(ray_cfg.address)
    print(f"Deploying Serve app {ray_cfg.app!r} (model {config.model.path}) …", flush=True)
    print_report(deploy(config.model, config.engine))
    if local:
        print(
            "This Ray runs inside this process: serving until Ctrl-C (use `ray start --head` for a cluster)."
        )
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    return 0


def print_report(found: object) -> None:
    from generator.serve.admin import AppReport

    assert isinstance(found, AppReport)
    states = ", ".join(f"{count} {state.lower()}" for state, count in found.replica_states.items()) or "none"
    print(
        f"app {found.app!r} on the Ray cluster at {found.cluster}: {found.status.lower()}; replicas: {states}"
    )
    if found.styles:
        print("styles: " + ", ".join(style.name for style in found.styles))
    for replica in found.replicas:
        hot = ", ".join(replica.hot_styles) or "none yet"
        health = "" if replica.healthy else "  UNHEALTHY"
        print(
            f"  replica {replica.replica} on {replica.node} (pid {replica.pid}, {replica.device}): "
            f"hot styles {hot}; {replica.stats.batches} batches, {replica.stats.images} images{health}"
        )
