"""Where a pipeline call spends its time: prompt encoding, UNet, decoding (module hooks, no code changes)."""

from __future__ import annotations

import time
from collections import defaultdict
from types import TracebackType
from typing import Any

STAGES = ("prompt", "unet", "decode")


class StageTimer:
    """Accumulates wall time per stage while installed on a diffusers SDXL pipeline.

    `calls()` returns one dict per pipeline call (call `mark()` after each call); on CUDA the
    caller synchronises before `mark()`, and stage times include queued kernels only roughly.
    """

    def __init__(self, pipe: Any) -> None:
        self._pipe = pipe
        self._handles: list[Any] = []
        self._starts: dict[int, float] = {}
        self._current: dict[str, float] = defaultdict(float)
        self._calls: list[dict[str, float]] = []
        self._original_decode: Any = None

    def __enter__(self) -> StageTimer:
        for name, stage in (("text_encoder", "prompt"), ("text_encoder_2", "prompt"), ("unet", "unet")):
            module = getattr(self._pipe, name, None)
            if module is not None:
                self._hook(module, stage)
        vae = self._pipe.vae
        self._original_decode = vae.decode

        def timed_decode(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return self._original_decode(*args, **kwargs)
            finally:
                self._current["decode"] += (time.perf_counter() - started) * 1000

        vae.decode = timed_decode
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        if self._original_decode is not None:
            del self._pipe.vae.decode  # drop the instance attribute; the class method shows again
            self._original_decode = None

    def _hook(self, module: Any, stage: str) -> None:
        def before(mod: Any, args: Any) -> None:
            self._starts[id(mod)] = time.perf_counter()

        def after(mod: Any, args: Any, output: Any) -> None:
            self._current[stage] += (time.perf_counter() - self._starts.pop(id(mod))) * 1000

        self._handles.append(module.register_forward_pre_hook(before))
        self._handles.append(module.register_forward_hook(after))

    def mark(self) -> dict[str, float]:
        """Close the current pipeline call's record and return it."""
        record = {stage: self._current.get(stage, 0.0) for stage in STAGES}
        self._calls.append(record)
        self._current = defaultdict(float)
        return record

    def calls(self) -> list[dict[str, float]]:
        return list(self._calls)
