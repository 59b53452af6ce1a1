"""Cluster operations behind `stickerbot serve`: connect, deploy the app, report its replicas.

Every failure an operator can fix is an `EngineUnavailable` with one sentence (no Ray traceback).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from generator.api import EngineUnavailable, StyleSummary
from generator.options import EngineConfig, ModelConfig
from generator.serve import require_ray
from generator.serve.wire import ReplicaStatus


@dataclass(frozen=True, slots=True)
class AppReport:
    """Where the app runs and what it serves."""

    app: str
    cluster: str  # the GCS address of the cluster
    status: str  # Serve's application status, e.g. RUNNING or DEPLOYING
    replica_states: dict[str, int] = field(default_factory=dict)  # the generator's replicas by state
    styles: tuple[StyleSummary, ...] = ()
    replicas: tuple[ReplicaStatus, ...] = ()


def connect(address: str | None) -> bool:
    """Join the cluster at `address` (`auto`, `ray://host:10001`, `host:6379`); None starts a local Ray.

    Returns True when this process started a local Ray (it lives as long as the process)."""
    require_ray()
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if ray.is_initialized():
        return False
    try:
        if address is None:
            ray.init(include_dashboard=False, logging_level=logging.WARNING)
            return True
        ray.init(address=address, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise EngineUnavailable(
            f"Cannot reach a Ray cluster at {address} ({first}); start one with `ray start --head` "
            "or set engine.ray.address."
        ) from None
    return False


def deploy(model_cfg: ModelConfig, engine_cfg: EngineConfig, *, wait_s: float = 600.0) -> AppReport:
    """Deploy (or update) the generator app and wait until it runs; returns its report."""
    from ray import serve

    from generator.serve.app import build_app

    app = engine_cfg.ray.app
    try:
        serve.run(build_app(model_cfg, engine_cfg), name=app, route_prefix=None)
    except Exception as exc:  # a replica that cannot start: Serve's message names the cause
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise EngineUnavailable(f"The Serve app {app!r} did not start: {first}") from None
    return report(engine_cfg)


def report(engine_cfg: EngineConfig) -> AppReport:
    """The app's status, its styles and each replica's hot styles (from the status board)."""
    import ray
    from ray import serve

    ray_cfg = engine_cfg.ray
    status = serve.status().applications.get(ray_cfg.app)
    cluster = ray.get_runtime_context().gcs_address
    if status is None:
        raise EngineUnavailable(
            f"There is no Serve app {ray_cfg.app!r} on the cluster at {cluster}; deploy it with "
            "`stickerbot serve --config FILE`."
        )
    deployment = status.deployments.get(ray_cfg.deployment.name)
    states = (
        {_name(state): count for state, count in (deployment.replica_states or {}).items()}
        if deployment
        else {}
    )
    styles: tuple[StyleSummary, ...] = ()
    replicas: tuple[ReplicaStatus, ...] = ()
    app_status = _name(status.status)
    if app_status == "RUNNING":
        handle = serve.get_deployment_handle(ray_cfg.deployment.name, ray_cfg.app)
        styles = tuple(handle.styles.remote().result(timeout_s=30))
        board = serve.get_deployment_handle("StatusBoard", ray_cfg.app)
        stale = 3 * ray_cfg.deployment.health_check_period_s + 5
        replicas = tuple(board.replicas.remote(stale_after_s=stale).result(timeout_s=30))
    return AppReport(ray_cfg.app, cluster, app_status, states, styles, replicas)


def _name(value: object) -> str:
    """Serve's enums print as `ApplicationStatus.RUNNING`; operators read `RUNNING`."""
    return str(getattr(value, "value", value))
