"""Prometheus metrics of the FHIR ingest app, on a registry of its own (one per app, so tests do not collide).

Labels are bounded and never carry an identifier: `resource_type` is one of the ingested types, `Bundle`, or
`-`; `interaction` one of INTERACTIONS; `outcome` one of OUTCOMES; `status` the HTTP status; `domain` and
`event_type` come from the canonical catalog; `reason` is an error class's reason code.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

__all__ = ["INTERACTIONS", "OUTCOMES", "FhirMetrics"]

INTERACTIONS: Final = frozenset({"create", "update", "transaction", "batch", "capabilities", "metrics", "other"})
OUTCOMES: Final = frozenset({"created", "updated", "exists", "replayed", "processed", "rejected", "unauthorized",
                             "forbidden", "conflict", "precondition-failed", "unavailable", "not-found",
                             "unsupported-media-type", "too-large", "ok"})
_LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class FhirMetrics:
    """The counters and the latency histogram, registered on `registry`."""

    def __init__(self, resource_types: Collection[str], registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self._types = frozenset(resource_types) | {"Bundle"}
        self.requests = Counter("carebus_fhir_requests", "FHIR ingest requests answered.",
                                ["resource_type", "interaction", "outcome", "status"], registry=self.registry)
        self.latency = Histogram("carebus_fhir_request_duration_seconds",
                                 "Time to answer a FHIR ingest request, publishing included.",
                                 ["resource_type", "interaction"], buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.events = Counter("carebus_fhir_events_published", "Canonical events published from FHIR input.",
                              ["domain", "event_type"], registry=self.registry)
        self.deadletters = Counter("carebus_fhir_deadletters", "Requests written to deadletter.fhir.",
                                   ["reason"], registry=self.registry)

    def label_type(self, resource_type: str | None) -> str:
        return resource_type if resource_type in self._types else "-"

    def observe(self, *, resource_type: str | None, interaction: str, outcome: str, status: int,
                seconds: float) -> None:
        kind = self.label_type(resource_type)
        interaction = interaction if interaction in INTERACTIONS else "other"
        outcome = outcome if outcome in OUTCOMES else "ok"
        self.requests.labels(kind, interaction, outcome, str(status)).inc()
        self.latency.labels(kind, interaction).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
