"""Generation on a Ray Serve cluster (`engine.backend: ray`).

- `deployment`: the Serve deployment; each replica owns one `StickerPipeline`, multiplexes styles
  (`@serve.multiplexed`, the style name is the model id) and batches requests (`@serve.batch`).
- `board`: a one-replica deployment the generator replicas report their hot styles and counters to.
- `app`: builds the Serve application from the `model:` / `engine:` config (also the `serve deploy`
  import path, `generator.serve.app:build`).
- `client`: `RayEngine`, the `StickerEngine` the bot uses when `engine.backend` is `ray`.
- `wire`: what travels between them (torch-free).
- `subjects`: taught subjects' LoRAs shipped by content (sha256 + object store) to a node-local cache.

Ray is an optional extra; `require_ray()` turns its absence into one line naming it.
"""

from __future__ import annotations

from generator.api import GenerationFailed

RAY_MISSING = "Ray is not installed: pip install 'stickerbot[ray]'"


def require_ray() -> None:
    """Raise `GenerationFailed` with one line naming the extra when Ray Serve cannot be imported."""
    try:
        import ray  # noqa: F401
        from ray import serve  # noqa: F401
    except ImportError:
        raise GenerationFailed(RAY_MISSING) from None
