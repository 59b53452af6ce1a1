"""One local Ray cluster for the whole session (2 CPUs, no dashboard, auth off) and the tiny model.

Replicas ask for no CPU (`num_cpus: 0`) so several small apps fit next to each other on 2 cores.
Select the group with `-m ray`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("ray.serve", reason="Ray is not installed: pip install 'stickerbot[ray]'")

from generator.options import (
    EngineConfig,
    ModelConfig,
    RayConfig,
    RayDeploymentConfig,
)

STYLES = {
    "otter": (
        "name: otter\ndescription: A round otter\ntrigger: dm-sticker\nsubject: otter\n"
        'template: "{expression}, {subject}, {trigger}"\nbackground: white\noutline: true\n'
    ),
    "lora-a": (
        "name: lora-a\ndescription: One LoRA.\ntrigger: dm-sticker\nsubject: otter\n"
        "loras:\n  - source: loras/tiny-lora-a.safetensors\n    scale: 1.0\n"
    ),
    "lora-b": (
        "name: lora-b\ndescription: The other LoRA.\ntrigger: dm-sticker\nsubject: otter\n"
        "loras:\n  - source: loras/tiny-lora-b.safetensors\n    scale: 1.0\n"
    ),
}


@pytest.fixture(scope="session")
def ray_styles_dir(tiny_lora_files: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("ray-styles")
    (directory / "loras").mkdir()
    for lora in tiny_lora_files:
        (directory / "loras" / lora.name).write_bytes(lora.read_bytes())
    for name, text in STYLES.items():
        (directory / f"{name}.yaml").write_text(text, encoding="utf-8")
    return directory


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    """`ray.init(num_cpus=2)` once; replicas inherit this environment (offline hub, one thread)."""
    import ray
    from ray import serve

    os.environ["RAY_AUTH_MODE"] = "disabled"
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    try:
        yield
    finally:
        serve.shutdown()
        ray.shutdown()


def ray_configs(
    model_dir: Path, styles_dir: Path, app: str, **deployment: object
) -> tuple[ModelConfig, EngineConfig]:
    """Tiny model on the CPU; a generous batch wait so concurrent requests meet in one batch."""
    model = ModelConfig(
        path=str(model_dir), device="cpu", dtype="float32", local_files_only=True, compile="off"
    )
    options = {"num_cpus": 0.0, "health_check_period_s": 2.0, **deployment}
    engine = EngineConfig(
        styles_dir=str(styles_dir),
        default_style="otter",
        max_batch_size=8,
        max_wait_ms=150.0,
        hot_styles=2,
        backend="ray",
        ray=RayConfig(address="auto", app=app, deployment=RayDeploymentConfig(**options)),  # type: ignore[arg-type]
    )
    return model, engine


def deploy(model: ModelConfig, engine: EngineConfig) -> None:
    from ray import serve

    from generator.serve.app import build_app

    serve.run(build_app(model, engine), name=engine.ray.app, route_prefix=None)


@pytest.fixture(scope="session")
def tiny_motion_adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`stickerbot dev tiny-motion-adapter`: a random-weight AnimateDiff adapter for the tiny model."""
    from bot.cli import main

    target = tmp_path_factory.mktemp("tiny-motion") / "adapter"
    assert main(["dev", "tiny-motion-adapter", str(target)]) == 0
    return target


@pytest.fixture(scope="session")
def main_app(
    ray_cluster: None, tiny_model_dir: Path, ray_styles_dir: Path, tiny_motion_adapter: Path
) -> tuple[ModelConfig, EngineConfig]:
    """The app most tests share: one replica, two hot styles, batches of up to 8 images, the tiny
    motion adapter for diffusion animations."""
    model, engine = ray_configs(tiny_model_dir, ray_styles_dir, "stickerbot-test")
    model = model.model_copy(update={"motion_adapter": str(tiny_motion_adapter)})
    deploy(model, engine)
    return model, engine
