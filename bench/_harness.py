"""What every stage shares: repeated runs with a warm-up, medians, the JSON result shape, a broker."""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carebus.kafka.local import LocalCluster, free_port
from carebus.settings import DEFAULT_HOME, DEFAULT_KAFKA_VERSION

__all__ = ["Result", "Stage", "broker", "machine", "measure_rate", "summarize"]

DEFAULT_RUNS = 5


@dataclass
class Result:
    stage: str
    metric: str
    unit: str
    value: float
    runs: int
    min: float
    max: float
    params: dict[str, Any] = field(default_factory=dict)
    baseline: str | None = None
    baseline_value: float | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"stage": self.stage, "metric": self.metric, "unit": self.unit,
                               "value": round(self.value, 3)}
        if self.baseline is not None and self.baseline_value:
            out["baseline"] = self.baseline
            out["baseline_value"] = round(self.baseline_value, 3)
            out["ratio"] = round(self.value / self.baseline_value, 3)
        out.update({"runs": self.runs, "min": round(self.min, 3), "max": round(self.max, 3), "params": self.params})
        return out


@dataclass(frozen=True)
class Stage:
    name: str
    needs_broker: bool
    run: Callable[[str | None], list[Result]]


def measure_rate(operation: Callable[[], int], *, runs: int = DEFAULT_RUNS, warmup: int = 1) -> list[float]:
    """Items per second for each of `runs` timed calls of `operation` (which returns its item count)."""
    for _ in range(warmup):
        operation()
    rates = []
    for _ in range(runs):
        started = time.perf_counter()
        items = operation()
        rates.append(items / (time.perf_counter() - started))
    return rates


def summarize(stage: str, metric: str, unit: str, samples: list[float], **extra: Any) -> Result:
    return Result(stage=stage, metric=metric, unit=unit, value=statistics.median(samples), runs=len(samples),
                  min=min(samples), max=max(samples), **extra)


def machine(kafka_version: str) -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "kafka": kafka_version}


@contextmanager
def broker() -> Iterator[str]:
    """KAFKA_BOOTSTRAP_SERVERS when set, else a throw-away local broker (the tests' launcher)."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    with tempfile.TemporaryDirectory(prefix="carebus-bench-") as state_dir:
        cluster = LocalCluster(state_dir=Path(state_dir), home=Path(os.environ.get("CAREBUS_HOME", DEFAULT_HOME)),
                               version=os.environ.get("CAREBUS_KAFKA_VERSION", DEFAULT_KAFKA_VERSION))
        try:
            yield cluster.up(port=free_port())
        finally:
            cluster.down(purge=True)
