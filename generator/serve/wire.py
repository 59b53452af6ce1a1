"""What travels between the bot's `RayEngine` and the replicas (torch-free, picklable).

Typed errors come back as `RemoteFailure` values rather than raised exceptions: a `GeneratorError`'s
keyword-only `detail` does not survive exception pickling, and a value keeps `user_message` exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from generator import api
from generator.animation import errors as animation_errors

_ERRORS: dict[str, type[api.GeneratorError]] = {
    cls.kind: cls
    for cls in (
        api.InvalidRequest,
        api.UnknownStyle,
        api.StyleError,
        api.ModelMissing,
        api.Overloaded,
        api.GenerationTimeout,
        api.GenerationFailed,
        api.EngineClosed,
        api.EngineUnavailable,
        animation_errors.AnimationUnavailable,
        animation_errors.AnimationEncodingFailed,
    )
}


@dataclass(frozen=True, slots=True)
class RemoteFailure:
    """A typed generator error raised on a replica, carried back as a value."""

    kind: str
    user_message: str
    detail: str | None = None

    @classmethod
    def of(cls, error: api.GeneratorError) -> RemoteFailure:
        return cls(error.kind, error.user_message, error.detail)

    def error(self) -> api.GeneratorError:
        return _ERRORS.get(self.kind, api.GenerationFailed)(self.user_message, detail=self.detail)


@dataclass(frozen=True, slots=True)
class ReplicaStatus:
    """One generator replica as it reports itself to the board."""

    replica: str  # Serve's replica id
    actor_name: str  # the Ray actor, e.g. for `ray.kill` or `ray logs`
    node: str  # node IP address
    pid: int
    device: str
    hot_styles: tuple[str, ...]  # multiplexed (fused) styles, least recently used first
    active_style: str | None
    stats: api.EngineStats = field(default_factory=api.EngineStats)
    healthy: bool = True
    updated: float = 0.0  # time.time() of the report


@dataclass(frozen=True, slots=True)
class SubjectLora:
    """A taught subject's LoRA on its way to a replica: the sha256 of its bytes and the object-store
    reference of those bytes (`ray.ObjectRef[bytes]`; fetched only by a node that lacks the file)."""

    digest: str
    size: int
    data: Any
