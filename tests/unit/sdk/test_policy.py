"""Pure parts of the subscriber: retry backoff, topic resolution, metrics registration."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from carebus.sdk import RetryPolicy, SdkError, SubscriberMetrics
from carebus.sdk._subscriber import resolve_topic


def test_backoff_grows_by_the_multiplier_and_stops_at_the_cap() -> None:
    assert RetryPolicy(attempts=5, initial_s=0.5, multiplier=2, max_s=1.5).delays() == (0.5, 1.0, 1.5, 1.5)
    assert RetryPolicy(attempts=1).delays() == ()


@pytest.mark.parametrize("options", [{"attempts": 0}, {"initial_s": -1}, {"multiplier": 0.5}])
def test_a_policy_that_cannot_work_is_refused_when_built(options: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize(("topic", "domain", "stage", "expected"), [
    (None, "result", "normalized", ("normalized.result.v1", "result")),
    (None, "order", "canonical", ("canonical.order.v1", "order")),
    ("canonical.claim.v1", None, "normalized", ("canonical.claim.v1", "claim")),
    ("team-topic", "patient", "normalized", ("team-topic", "patient")),
])
def test_a_subscription_names_its_topic_and_domain(topic: str | None, domain: str | None, stage: str,
                                                   expected: tuple[str, str]) -> None:
    assert resolve_topic(topic=topic, domain=domain, stage=stage) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("topic", "domain"), [(None, None), ("team-topic", None), (None, "pharmacy")])
def test_a_subscription_that_cannot_say_its_domain_is_refused(topic: str | None, domain: str | None) -> None:
    with pytest.raises(SdkError):
        resolve_topic(topic=topic, domain=domain, stage="normalized")


def test_metrics_are_registered_once_per_registry_with_topic_and_outcome_labels_only() -> None:
    registry = CollectorRegistry()
    assert SubscriberMetrics.on(registry) is SubscriberMetrics.on(registry)
    metrics = SubscriberMetrics.on(registry)
    metrics.records.labels("t", "handled").inc()
    metrics.handler_seconds.labels("t", "ok").observe(0.01)
    metrics.lag.labels("t").set(3)
    labels = {name for family in registry.collect() for sample in family.samples for name in sample.labels}
    assert labels <= {"topic", "outcome", "le"}
