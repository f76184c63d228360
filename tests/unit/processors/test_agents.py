from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from processors.agents import _TransientGuard
from processors.errors import TransientError
from processors.metrics import ProcessorMetrics


def test_a_transient_failure_is_retried_in_place_until_the_step_succeeds() -> None:
    registry = CollectorRegistry()
    metrics = ProcessorMetrics(registry)
    guard = _TransientGuard(metrics, limit_s=30.0)
    calls = []

    def step() -> str:
        calls.append(1)
        if len(calls) < 2:
            raise TransientError("normalize", "registry-unavailable", "HTTP 0, code 50003")
        return "done"

    assert asyncio.run(guard.run("normalize", step)) == "done"
    assert len(calls) == 2
    assert registry.get_sample_value("carebus_processor_transient_failures_total", {"stage": "normalize"}) == 1
