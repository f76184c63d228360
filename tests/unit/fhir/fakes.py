"""Hand-written fakes at the FHIR app's ports, and the sample files, for the unit tests."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from carebus.errors import PublishError
from carebus.events import Event
from carebus.kafka.producer import Delivery
from carebus.publishing import DeadLetter
from producers.fhir.mapping import MappingContext

SAMPLES = Path(__file__).resolve().parents[4] / "shared" / "samples" / "fhir"
BASE_URL = "https://fhir.example.org/fhir"
RECEIVED_AT = datetime(2024, 3, 14, 9, 30, 6, tzinfo=UTC)


def sample_files() -> list[Path]:
    return sorted(path for path in SAMPLES.iterdir() if path.is_file() and path.suffix in (".json", ".fhir", ".ndjson"))


def bundle_files() -> list[Path]:
    return [path for path in sample_files()
            if path.suffix != ".ndjson" and json.loads(path.read_bytes())["resourceType"] == "Bundle"]


def read_sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / name).read_bytes())


def ids(start: int = 1) -> Callable[[], str]:
    """Deterministic UUID strings: 00000000-0000-0000-0000-000000000001, ..."""
    counter = itertools.count(start)
    return lambda: str(uuid.UUID(int=next(counter)))


def context(**overrides: Any) -> MappingContext:
    values: dict[str, Any] = {"base_url": BASE_URL, "source_system": "test-client", "received_at": RECEIVED_AT,
                              "new_event_id": ids(), "message_id": "MSG-1"}
    values.update(overrides)
    return MappingContext(**values)


@dataclass
class FakePublisher:
    """EventPublisher that records each publish call; `fail_next` makes the next calls raise PublishError."""

    calls: list[list[Event]] = field(default_factory=list)
    fail_next: int = 0
    delay_s: float = 0.0

    async def publish(self, events: Sequence[Event]) -> list[Delivery]:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail_next:
            self.fail_next -= 1
            raise PublishError("canonical.test.v1", "_MSG_TIMED_OUT")
        self.calls.append(list(events))
        return [Delivery("canonical.test.v1", 0, offset) for offset in range(len(events))]

    @property
    def events(self) -> list[Event]:
        return [event for call in self.calls for event in call]


@dataclass
class FakeDeadLetters:
    letters: list[DeadLetter] = field(default_factory=list)

    async def publish(self, letter: DeadLetter) -> None:
        self.letters.append(letter)


def iter_ndjson(name: str) -> Iterator[bytes]:
    for line in (SAMPLES / name).read_bytes().splitlines():
        if line.strip():
            yield line
