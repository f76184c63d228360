"""Subscriber metrics (prometheus-client). Labels are topic and outcome only: never an id or a value.

    carebus_sdk_records_total{topic, outcome}         outcome: handled | dead_lettered | undecodable
    carebus_sdk_handler_seconds{topic, outcome}       one observation per handler call; outcome: ok | error
    carebus_sdk_consumer_lag{topic}                   records behind the end of the topic, summed over partitions
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["HandlerOutcome", "RecordOutcome", "SubscriberMetrics"]

RecordOutcome = Literal["handled", "dead_lettered", "undecodable"]
HandlerOutcome = Literal["ok", "error"]
_LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class SubscriberMetrics:
    records: Counter
    handler_seconds: Histogram
    lag: Gauge

    @classmethod
    def on(cls, registry: CollectorRegistry = REGISTRY) -> SubscriberMetrics:
        """The metrics registered on `registry`, made once per registry however many subscribers share it."""
        with _LOCK:
            found = _BY_REGISTRY.get(id(registry))
            if found is None:
                found = cls(
                    records=Counter("carebus_sdk_records", "Records a subscriber finished with, by outcome.",
                                    ["topic", "outcome"], registry=registry),
                    handler_seconds=Histogram("carebus_sdk_handler_seconds", "Time in the subscriber's handler.",
                                              ["topic", "outcome"], buckets=_LATENCY_BUCKETS, registry=registry),
                    lag=Gauge("carebus_sdk_consumer_lag", "Records behind the end of the topic (this member's "
                              "partitions).", ["topic"], registry=registry),
                )
                _BY_REGISTRY[id(registry)] = found
            return found


_LOCK = threading.Lock()
_BY_REGISTRY: dict[int, SubscriberMetrics] = {}
