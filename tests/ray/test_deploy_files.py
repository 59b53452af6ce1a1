"""deploy/: the `serve deploy` config and the KubeRay RayService parse, and resolve against the code."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.ray

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def serve_config() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "serve-config.yaml").read_text(encoding="utf-8"))


def rayservice() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "kuberay-rayservice.yaml").read_text(encoding="utf-8"))


def check_serve_config(raw: dict[str, Any]) -> None:
    """Valid for Serve's own schema; the import path builds our app from `args`; names match."""
    from ray.serve import Application
    from ray.serve.schema import ServeDeploySchema

    from generator.serve.deployment import StickerGenerator

    schema = ServeDeploySchema.model_validate(raw)
    (app,) = schema.applications
    module, _, attr = app.import_path.partition(":")
    builder = getattr(importlib.import_module(module), attr)
    built = builder(app.args)  # refuses unknown keys in model/engine
    assert isinstance(built, Application)
    ingress = built._bound_deployment
    assert ingress.name == app.args["engine"]["ray"]["deployment"]["name"] == "StickerGenerator"
    assert ingress.func_or_class is StickerGenerator.func_or_class
    assert app.name == app.args["engine"]["ray"]["app"]
    options = ingress._deployment_config
    deployment = app.args["engine"]["ray"]["deployment"]
    assert options.max_ongoing_requests == deployment["max_ongoing_requests"]
    assert options.max_queued_requests == deployment["max_queued_requests"]
    assert options.autoscaling_config.max_replicas == deployment["autoscaling"]["max_replicas"]
    assert ingress.ray_actor_options["num_gpus"] == deployment["num_gpus"]
    for override in app.deployments:  # `deployments:` overrides must name deployments of the app
        assert override.name in {"StickerGenerator", "StatusBoard"}


def test_the_serve_config_resolves_against_the_code() -> None:
    check_serve_config(serve_config())


def test_the_rayservice_carries_the_same_serve_config_and_ray_version() -> None:
    import ray

    manifest = rayservice()
    assert manifest["apiVersion"] == "ray.io/v1" and manifest["kind"] == "RayService"
    embedded = yaml.safe_load(manifest["spec"]["serveConfigV2"])
    assert embedded == serve_config()
    check_serve_config(embedded)
    cluster = manifest["spec"]["rayClusterConfig"]
    assert cluster["rayVersion"] == ray.__version__
    images = [c["image"] for c in cluster["headGroupSpec"]["template"]["spec"]["containers"]]
    for group in cluster["workerGroupSpecs"]:
        images += [c["image"] for c in group["template"]["spec"]["containers"]]
        gpus = group["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"]
        assert float(gpus) >= embedded["applications"][0]["args"]["engine"]["ray"]["deployment"]["num_gpus"]
    assert all(ray.__version__ in image for image in images)


def test_a_wrong_key_in_the_args_is_refused_in_one_line() -> None:
    from generator.serve.app import build

    raw = serve_config()["applications"][0]["args"]
    raw["engine"]["ray"]["deployment"]["replicas"] = 2
    with pytest.raises(
        ValueError,
        match=r"^serve config args: engine\.ray\.deployment\.replicas: Extra inputs are not permitted$",
    ):
        build(raw)
