"""The ACK policy of `MessageHandler`, with fakes at its ports (no sockets, no Kafka)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from carebus.errors import PublishError
from carebus.events import Event
from carebus.events.examples import example_event
from carebus.kafka.producer import Delivery
from carebus.publishing import DeadLetter
from producers.hl7v2.client import read_ack
from producers.hl7v2.dedupe import ResendWindow
from producers.hl7v2.errors import MappingError
from producers.hl7v2.handler import HandlerConfig, MessageHandler
from producers.hl7v2.metrics import Hl7Metrics
from producers.hl7v2.parsing import ParsedMessage

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class FakePublisher:
    def __init__(self, *, fail: bool = False, delay_s: float = 0.0) -> None:
        self.batches: list[Sequence[Event]] = []
        self.fail = fail
        self.delay_s = delay_s

    async def publish(self, events: Sequence[Event]) -> list[Delivery]:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail:
            raise PublishError("canonical.result.v1", "_MSG_TIMED_OUT")
        self.batches.append(events)
        return [Delivery("t", 0, i) for i, _ in enumerate(events)]


class FakeDeadLetters:
    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    async def publish(self, letter: DeadLetter) -> None:
        self.letters.append(letter)


def one_event(_parsed: ParsedMessage, _received_at: datetime) -> list[Event]:
    return [example_event("result")]


def _handler(publisher: FakePublisher, deadletters: FakeDeadLetters, map_events=one_event,
             timeout_s: float = 1.0) -> MessageHandler:
    return MessageHandler(publisher=publisher, deadletters=deadletters, map_events=map_events,
                          resends=ResendWindow(), metrics=Hl7Metrics(CollectorRegistry()),
                          config=HandlerConfig(publish_timeout_s=timeout_s), clock=lambda: NOW)


@pytest.fixture
def oru(samples_dir: Path) -> bytes:
    return (samples_dir / "hl7v2" / "msfc__ORU-R01-01.hl7").read_bytes()


def _handle(handler: MessageHandler, frame: bytes) -> tuple[str, str, str]:
    ack = read_ack(asyncio.run(handler.handle(frame, "127.0.0.1:1")))
    return ack.code, ack.control_id, ack.error


def test_aa_after_the_events_are_published(oru: bytes) -> None:
    publisher, deadletters = FakePublisher(), FakeDeadLetters()
    code, control_id, _ = _handle(_handler(publisher, deadletters), oru)
    assert code == "AA"
    assert control_id and control_id in oru.decode()
    assert len(publisher.batches) == 1
    assert deadletters.letters == []


def test_a_resend_after_a_lost_ack_is_acknowledged_without_publishing_again(oru: bytes) -> None:
    publisher, deadletters = FakePublisher(), FakeDeadLetters()
    handler = _handler(publisher, deadletters)
    assert _handle(handler, oru)[0] == "AA"
    assert _handle(handler, oru)[0] == "AA"
    assert len(publisher.batches) == 1


def test_broker_failure_gives_ae_no_dead_letter_and_the_retry_is_published(oru: bytes) -> None:
    publisher, deadletters = FakePublisher(fail=True), FakeDeadLetters()
    handler = _handler(publisher, deadletters)
    code, _, _ = _handle(handler, oru)
    assert code == "AE"
    assert deadletters.letters == []
    publisher.fail = False
    assert _handle(handler, oru)[0] == "AA"
    assert len(publisher.batches) == 1


def test_a_publish_slower_than_the_bound_gives_ae(oru: bytes) -> None:
    publisher, deadletters = FakePublisher(delay_s=0.5), FakeDeadLetters()
    assert _handle(_handler(publisher, deadletters, timeout_s=0.05), oru)[0] == "AE"


def test_unparseable_message_is_dead_lettered_byte_for_byte_and_nacked(samples_dir: Path) -> None:
    frame = (samples_dir / "hl7v2" / "cdcti__msh_present_but_missing_msh-9.hl7").read_bytes()
    publisher, deadletters = FakePublisher(), FakeDeadLetters()
    code, _, error = _handle(_handler(publisher, deadletters), frame)
    assert code in ("AE", "AR")
    assert error
    assert publisher.batches == []
    (letter,) = deadletters.letters
    assert letter.original == frame
    assert letter.stage == "hl7v2"
    assert letter.reason


def test_mapping_error_is_dead_lettered_with_its_reason_and_nacked_ae(oru: bytes) -> None:
    def broken(_parsed: ParsedMessage, _at: datetime) -> list[Event]:
        raise MappingError("missing-required-segment")

    publisher, deadletters = FakePublisher(), FakeDeadLetters()
    code, _, _ = _handle(_handler(publisher, deadletters, broken), oru)
    assert code == "AE"
    assert deadletters.letters[0].reason == "missing-required-segment"
    assert deadletters.letters[0].original == oru


def test_a_bug_in_mapping_still_answers_and_dead_letters(oru: bytes) -> None:
    def buggy(_parsed: ParsedMessage, _at: datetime) -> list[Event]:
        raise KeyError("oops")

    publisher, deadletters = FakePublisher(), FakeDeadLetters()
    code, _, _ = _handle(_handler(publisher, deadletters, buggy), oru)
    assert code == "AE"
    assert deadletters.letters[0].reason == "internal-error"


def test_resend_window_expires() -> None:
    now = [0.0]
    window = ResendWindow(window_s=10, clock=lambda: now[0])
    window.remember("LAB^HOSP", "123")
    assert window.seen("LAB^HOSP", "123")
    assert not window.seen("OTHER^HOSP", "123")
    now[0] = 11.0
    assert not window.seen("LAB^HOSP", "123")


def test_resend_window_is_bounded() -> None:
    window = ResendWindow(max_entries=2)
    for control_id in ("1", "2", "3"):
        window.remember("s", control_id)
    assert len(window) == 2
    assert not window.seen("s", "1")
