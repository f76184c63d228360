"""Prometheus metrics of the stream processors. Labels are stage, domain, event type, source system, table,
reason and outcome: never an identifier. A source system outside the integration catalog counts as "other",
so a misconfigured sender cannot grow a metric's cardinality."""

from __future__ import annotations

from collections.abc import Collection

from prometheus_client import CollectorRegistry, Counter

__all__ = ["ProcessorMetrics", "source_label"]

OTHER = "other"


def source_label(system: str, known: Collection[str]) -> str:
    return system if system in known else OTHER


class ProcessorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter("carebus_processor_events_total", "records handled by a stage, by outcome",
                              ["stage", "domain", "outcome"], registry=registry)
        self.unmapped = Counter("carebus_processor_unmapped_codes_total",
                                "values no mapping table knows (kept as sent and flagged)",
                                ["domain", "table", "source"], registry=registry)
        self.mapped = Counter("carebus_processor_mapped_values_total", "values a mapping table changed",
                              ["domain", "source"], registry=registry)
        self.duplicates = Counter("carebus_processor_duplicates_total", "replays dropped by dedupe",
                                  ["domain", "key"], registry=registry)
        self.dead_letters = Counter("carebus_processor_dead_letters_total", "records sent to deadletter.<stage>",
                                    ["stage", "reason"], registry=registry)
        self.identity = Counter("carebus_processor_identity_resolutions_total",
                                "enterprise id decisions, by how the patient was matched", ["method"],
                                registry=registry)
        self.routed = Counter("carebus_processor_routed_total", "copies sent to subscriber topics",
                              ["domain", "outcome"], registry=registry)
        self.retries = Counter("carebus_processor_retries_total", "routing deliveries sent to a retry topic",
                               ["attempt"], registry=registry)
        self.config_reloads = Counter("carebus_processor_config_reloads_total",
                                      "operator file reloads, by part and outcome", ["part", "outcome"],
                                      registry=registry)
        self.transient_failures = Counter("carebus_processor_transient_failures_total",
                                          "dependency failures retried in place", ["stage"], registry=registry)
