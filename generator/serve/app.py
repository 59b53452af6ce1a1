"""The Serve application: a `StickerGenerator` deployment (plus its status board) from the config.

`build_app(model_cfg, engine_cfg)` is what `stickerbot serve` and `RayEngine` (with a local Ray) run;
`build` is the import path for `serve deploy` config files (`import_path: generator.serve.app:build`),
whose `args:` hold the same `model:` and `engine:` sections as the bot's config file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import ValidationError
from ray.serve import Application

from generator.options import EngineConfig, ModelConfig, RayConfig, RayDeploymentConfig
from generator.serve.board import StatusBoard
from generator.serve.deployment import StickerGenerator

S = TypeVar("S", ModelConfig, EngineConfig)


def deployment_options(d: RayDeploymentConfig) -> dict[str, Any]:
    """`engine.ray.deployment` as `Deployment.options(...)` keyword arguments."""
    options: dict[str, Any] = {
        "name": d.name,
        "ray_actor_options": {"num_cpus": d.num_cpus, "num_gpus": d.num_gpus},
        "max_ongoing_requests": d.max_ongoing_requests,
        "max_queued_requests": d.max_queued_requests,
        "health_check_period_s": d.health_check_period_s,
    }
    if d.autoscaling is not None:
        options["autoscaling_config"] = {
            "min_replicas": d.autoscaling.min_replicas,
            "max_replicas": d.autoscaling.max_replicas,
            "target_ongoing_requests": d.autoscaling.target_ongoing_requests,
        }
    else:
        options["num_replicas"] = d.num_replicas
    return options


def build_app(model_cfg: ModelConfig, engine_cfg: EngineConfig) -> Application:
    """The generator deployment (ingress) bound to its model/engine options and the status board."""
    d = engine_cfg.ray.deployment
    generator = StickerGenerator.options(**deployment_options(d))
    # Replicas get only what they use: a change of replica counts, resources or queue limits is then a
    # light config update (Serve adds or removes replicas) instead of a restart of every replica.
    replica_cfg = engine_cfg.model_copy(
        update={
            "ray": RayConfig(deployment=RayDeploymentConfig(max_concurrent_batches=d.max_concurrent_batches))
        }
    )
    return generator.bind(model_cfg, replica_cfg, StatusBoard.bind())


def build(args: Mapping[str, Any]) -> Application:
    """Application builder for `serve deploy` / KubeRay: `args` = {model: {...}, engine: {...}}.

    The sections are checked like the bot's config (unknown keys, wrong types and bad values are refused
    with a `ValueError` naming the key)."""
    unknown = set(args) - {"model", "engine"}
    if unknown:
        raise ValueError(f"unknown args {sorted(unknown)}: expected model and engine")
    return build_app(_section(ModelConfig, args, "model"), _section(EngineConfig, args, "engine"))


def _section(cls: type[S], args: Mapping[str, Any], name: str) -> S:
    try:
        return cls.model_validate(args.get(name) or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join([name, *(str(part) for part in first["loc"])])
        raise ValueError(f"serve config args: {where}: {first['msg']}") from None
