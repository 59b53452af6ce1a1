"""The status board: one small replica that generator replicas report to.

Serve itself tracks which multiplexed styles each replica holds but exposes it to nobody, and a
handle call reaches one replica only; so each generator replica pushes its `ReplicaStatus` here (after
a style load or eviction, after each batch, and on every health check). `stickerbot serve --status`
and `RayEngine.stats()` read it. Reports older than `stale_after_s` belong to replicas that are gone.
"""

from __future__ import annotations

import time

from ray import serve

from generator.serve.wire import ReplicaStatus


@serve.deployment(name="StatusBoard", num_replicas=1, ray_actor_options={"num_cpus": 0})
class StatusBoard:
    def __init__(self) -> None:
        self._replicas: dict[str, ReplicaStatus] = {}

    def report(self, status: ReplicaStatus) -> None:
        self._replicas[status.replica] = status

    def remove(self, replica: str) -> None:
        self._replicas.pop(replica, None)

    def replicas(self, stale_after_s: float = 60.0) -> list[ReplicaStatus]:
        cutoff = time.time() - stale_after_s
        self._replicas = {key: s for key, s in self._replicas.items() if s.updated >= cutoff}
        return sorted(self._replicas.values(), key=lambda s: s.replica)
