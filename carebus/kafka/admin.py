"""Make a cluster match the topic catalog, idempotently."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
)

from carebus.errors import TopicError
from carebus.kafka.config import KafkaConnection
from carebus.topics import TopicSpec

__all__ = ["TopicChange", "apply_topics", "cluster_size", "fit_to_cluster"]

logger = logging.getLogger(__name__)

ADMIN_TIMEOUT_S = 30.0

Action = Literal["created", "altered", "unchanged"]


@dataclass(frozen=True)
class TopicChange:
    topic: str
    action: Action
    details: tuple[str, ...] = ()


def _admin(connection: KafkaConnection) -> AdminClient:
    # log_level 3: librdkafka's notices (e.g. purging its background queue at exit) are not ours to show.
    return AdminClient({**connection.as_librdkafka_dict(), "log_level": 3})


def cluster_size(admin: AdminClient) -> int:
    return len(admin.list_topics(timeout=ADMIN_TIMEOUT_S).brokers)


def fit_to_cluster(spec: TopicSpec, brokers: int) -> TopicSpec:
    """Cap replication to the cluster's size, keeping min ISR below it so one broker may be down."""
    replication = min(spec.replication_factor, brokers)
    min_isr = min(spec.min_insync_replicas, max(1, replication - 1))
    return replace(spec, replication_factor=replication, min_insync_replicas=min_isr)


def apply_topics(connection: KafkaConnection, specs: Iterable[TopicSpec]) -> list[TopicChange]:
    """Create missing topics, raise partition counts and fix configs that differ. Never deletes."""
    admin = _admin(connection)
    brokers = cluster_size(admin)
    specs = list(specs)
    fitted = [fit_to_cluster(spec, brokers) for spec in specs]
    capped = sum(f.replication_factor < s.replication_factor for f, s in zip(fitted, specs, strict=True))
    if capped:
        logger.warning("replication capped to %d for %d topics on a %d-broker cluster",
                       min(brokers, 3), capped, brokers)
    existing = admin.list_topics(timeout=ADMIN_TIMEOUT_S).topics
    changes = [_create(admin, [spec for spec in fitted if spec.name not in existing])]
    for spec in fitted:
        if spec.name in existing:
            changes.append([_reconcile(admin, spec, len(existing[spec.name].partitions))])
    return [change for group in changes for change in group]


def _create(admin: AdminClient, specs: list[TopicSpec]) -> list[TopicChange]:
    if not specs:
        return []
    futures = admin.create_topics(
        [NewTopic(spec.name, spec.partitions, spec.replication_factor, config=spec.configs()) for spec in specs],
        operation_timeout=ADMIN_TIMEOUT_S,
    )
    changes = []
    for spec in specs:
        try:
            futures[spec.name].result()
        except KafkaException as exc:
            error = exc.args[0]
            if error.name() != "TOPIC_ALREADY_EXISTS":  # a concurrent apply got there first
                raise TopicError(spec.name, error.name()) from exc
        changes.append(TopicChange(spec.name, "created", (f"partitions={spec.partitions}",
                                                          f"replication={spec.replication_factor}")))
    return changes


def _reconcile(admin: AdminClient, spec: TopicSpec, partitions: int) -> TopicChange:
    details: list[str] = []
    if partitions < spec.partitions:
        admin.create_partitions([NewPartitions(spec.name, spec.partitions)])[spec.name].result()
        details.append(f"partitions {partitions}->{spec.partitions}")
    elif partitions > spec.partitions:
        # Kafka cannot shrink a topic; say so instead of pretending it matches.
        details.append(f"has {partitions} partitions, catalog says {spec.partitions} (left alone)")
    resource = ConfigResource(ConfigResource.Type.TOPIC, spec.name)
    current = admin.describe_configs([resource])[resource].result()
    wanted = spec.configs()
    differing = {key: value for key, value in wanted.items() if current[key].value != value}
    if differing:
        entries = [ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
                   for key, value in differing.items()]
        admin.incremental_alter_configs([ConfigResource(ConfigResource.Type.TOPIC, spec.name,
                                                        incremental_configs=entries)])[resource].result()
        details.extend(f"{key}={value}" for key, value in differing.items())
    return TopicChange(spec.name, "altered" if details else "unchanged", tuple(details))
