"""The service's own test: the pure rule, and the handler against a fake notifier (no broker)."""

from __future__ import annotations

from carebus.sdk import new_event
from carebus.sdk.models import CodedConcept, Observation, Result
from examples.notify_critical.service import Notification, handle_with, notification_for


def _result(*critical: bool) -> Result:
    return Result(status="final", observations=tuple(
        Observation(code=CodedConcept(code=f"CODE-{index}"), critical=flag) for index, flag in enumerate(critical)))


def test_a_result_with_a_critical_observation_makes_one_notification_with_its_codes() -> None:
    event = new_event(_result(False, True), event_type="result.finalized", source="LAB", subject="urn:test|1")
    notification = notification_for(event)
    assert notification == Notification(str(event.envelope.event_id), event.envelope.correlation_id,
                                        "result.finalized", ("CODE-1",))


def test_a_result_without_critical_observations_notifies_nobody() -> None:
    sent: list[Notification] = []

    class FakeNotifier:
        def send(self, notification: Notification) -> None:
            sent.append(notification)

    handle_with(FakeNotifier())(new_event(_result(False), event_type="result.finalized", source="LAB",
                                          subject="urn:test|1"))
    assert sent == []
