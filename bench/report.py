"""Benchmark rows, the printed table and the JSON file."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import resource
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Row:
    """One measured figure. `target` is the goal from the issue, as text (e.g. "<= 1.10")."""

    section: str
    metric: str
    value: float | None
    unit: str
    target: str = ""
    note: str = ""

    def shown(self) -> str:
        if self.value is None:
            return "n/a"
        if abs(self.value) >= 100:
            return f"{self.value:,.0f} {self.unit}".strip()
        if abs(self.value) >= 10:
            return f"{self.value:.1f} {self.unit}".strip()
        return f"{self.value:.3g} {self.unit}".strip()


@dataclass(slots=True)
class Report:
    mode: str
    rows: list[Row] = field(default_factory=list)
    raw: dict[str, object] = field(default_factory=dict)
    load_at_start: tuple[float, float, float] = field(default_factory=os.getloadavg)

    def add(
        self, section: str, metric: str, value: float | None, unit: str, target: str = "", note: str = ""
    ) -> Row:
        row = Row(section, metric, value, unit, target, note)
        self.rows.append(row)
        print(f"  {metric}: {row.shown()}" + (f"  [{note}]" if note else ""), flush=True)
        return row

    def table(self) -> str:
        header = ("section", "metric", "value", "target", "note")
        lines = [(r.section, r.metric, r.shown(), r.target, r.note) for r in self.rows]
        widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=True)]
        fmt = " | ".join(f"{{:<{w}}}" for w in widths)
        out = [fmt.format(*header), "-+-".join("-" * w for w in widths)]
        out += [fmt.format(*line) for line in lines]
        return "\n".join(out)

    def write_json(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        now = dt.datetime.now(dt.UTC)
        data = {
            "mode": self.mode,
            "date": now.isoformat(timespec="seconds"),
            "machine": {**machine_info(), "load_average_at_start": self.load_at_start},
            "rows": [asdict(r) for r in self.rows],
            "raw": self.raw,
        }
        path = directory / f"{self.mode}-{now:%Y%m%dT%H%M%SZ}.json"
        text = json.dumps(data, indent=2, default=str)
        path.write_text(text, encoding="utf-8")
        (directory / f"{self.mode}-latest.json").write_text(text, encoding="utf-8")
        return path


def machine_info() -> dict[str, object]:
    import diffusers
    import torch

    from generator.model import cpu_has_native_bf16

    info: dict[str, object] = {
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_bf16": cpu_has_native_bf16(),
        "load_average_at_end": os.getloadavg(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    info["diffusers"] = diffusers.__version__
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / 1024 if platform.system() == "Darwin" else peak / 1024


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
