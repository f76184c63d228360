"""The topic catalog: every topic carebus uses, declared once with its key, subject and schema.

Producers and consumers name topics through this catalog, never by string at the call site, and
`carebus topics apply` makes the cluster match it. Replication settings are the production ones;
`apply` caps them to the size of a smaller (local) cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from carebus.ids import Subject, TopicName

__all__ = [
    "CATALOG",
    "DEADLETTER_STAGES",
    "DOMAINS",
    "SCHEMAS_TOPIC",
    "TopicSpec",
    "canonical_topic",
    "deadletter_topic",
    "normalized_topic",
    "topic_spec",
]

CleanupPolicy = Literal["delete", "compact", "compact,delete"]

DOMAINS: tuple[str, ...] = ("patient", "encounter", "order", "result", "referral", "claim")
DEADLETTER_STAGES: tuple[str, ...] = (
    "hl7v2", "fhir", "batch", "normalize", "identity", "ownership", "routing", "sink", "webhook", "sdk",
)
SCHEMAS_TOPIC = TopicName("_schemas")

_DAY_MS = 24 * 60 * 60 * 1000
CANONICAL_PARTITIONS = 6
CANONICAL_RETENTION_MS = 30 * _DAY_MS
DEADLETTER_RETENTION_MS = 90 * _DAY_MS
AUDIT_RETENTION_MS = 365 * _DAY_MS


@dataclass(frozen=True)
class TopicSpec:
    """One topic as carebus declares it."""

    name: TopicName
    description: str
    key: str
    value_schema: str | None
    partitions: int = CANONICAL_PARTITIONS
    replication_factor: int = 3
    min_insync_replicas: int = 2
    retention_ms: int | None = CANONICAL_RETENTION_MS
    cleanup_policy: CleanupPolicy = "delete"

    @property
    def subject(self) -> Subject | None:
        """Confluent TopicNameStrategy subject for the value schema."""
        return Subject(f"{self.name}-value") if self.value_schema else None

    def configs(self) -> dict[str, str]:
        """Topic-level configs as the broker spells them."""
        configs = {
            "cleanup.policy": self.cleanup_policy,
            "min.insync.replicas": str(self.min_insync_replicas),
        }
        configs["retention.ms"] = "-1" if self.retention_ms is None else str(self.retention_ms)
        return configs


def canonical_topic(domain: str) -> TopicName:
    _check_domain(domain)
    return TopicName(f"canonical.{domain}.v1")


def normalized_topic(domain: str) -> TopicName:
    _check_domain(domain)
    return TopicName(f"normalized.{domain}.v1")


def deadletter_topic(stage: str) -> TopicName:
    if stage not in DEADLETTER_STAGES:
        raise ValueError(f"unknown dead-letter stage {stage!r}")
    return TopicName(f"deadletter.{stage}")


def _check_domain(domain: str) -> None:
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}")


def _event_schema_name(domain: str) -> str:
    return f"carebus.canonical.{domain.capitalize()}Event"


def _build_catalog() -> tuple[TopicSpec, ...]:
    specs: list[TopicSpec] = []
    for domain in DOMAINS:
        specs.append(TopicSpec(
            name=canonical_topic(domain),
            description=f"{domain} events as source adapters map them, before normalization",
            key="source patient identifier (authority|id), so one patient's events stay ordered",
            value_schema=_event_schema_name(domain),
        ))
        specs.append(TopicSpec(
            name=normalized_topic(domain),
            description=f"{domain} events after normalization, identity resolution, ownership and dedupe",
            key="enterprise patient id",
            value_schema=_event_schema_name(domain),
        ))
    for stage in DEADLETTER_STAGES:
        specs.append(TopicSpec(
            name=deadletter_topic(stage),
            description=f"records the {stage} stage could not process: original bytes, reason in headers",
            key="the original record's key, when it had one",
            value_schema=None,
            partitions=3,
            retention_ms=DEADLETTER_RETENTION_MS,
        ))
    specs.append(TopicSpec(
        name=TopicName("audit.v1"),
        description="one audit record per stage outcome: ids, stage, actor, outcome; no PHI values",
        key="event id",
        value_schema=None,
        partitions=3,
        retention_ms=AUDIT_RETENTION_MS,
    ))
    specs.append(TopicSpec(
        name=TopicName("workflow.tasks.v1"),
        description="workflow task state changes (opened, acknowledged, escalated, done)",
        key="task id",
        value_schema=None,
        partitions=3,
    ))
    specs.append(TopicSpec(
        name=SCHEMAS_TOPIC,
        description="the schema registry's own log, replayed at start-up",
        key="registry record key (JSON)",
        value_schema=None,
        partitions=1,
        retention_ms=None,
        cleanup_policy="compact",
    ))
    return tuple(specs)


CATALOG: tuple[TopicSpec, ...] = _build_catalog()
_BY_NAME = {spec.name: spec for spec in CATALOG}


def topic_spec(name: str) -> TopicSpec:
    try:
        return _BY_NAME[TopicName(name)]
    except KeyError:
        raise ValueError(f"topic {name!r} is not in the catalog") from None
