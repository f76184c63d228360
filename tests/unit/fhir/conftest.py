from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from producers.fhir.app import build_app
from producers.fhir.auth import BearerAuth, Client
from producers.fhir.idempotency import InMemoryIdempotencyStore
from tests.unit.fhir.fakes import BASE_URL, RECEIVED_AT, FakeDeadLetters, FakePublisher, ids

TOKENS = {
    "all-writes": Client("lab-lis", frozenset({"system/*.write"}), facility="EXAMPLE-LAB"),
    "patients-only": Client("registration", frozenset({"system/Patient.write"})),
    "v2-create-only": Client("v2-client", frozenset({"user/*.c"})),
    "read-only": Client("reader", frozenset({"system/*.read"})),
}
FHIR_HEADERS = {"Authorization": "Bearer all-writes", "Content-Type": "application/fhir+json"}


class AppHarness:
    """The app over fake ports, and an async client talking to it in-process."""

    def __init__(self, **options: Any) -> None:
        self.publisher = FakePublisher()
        self.deadletters = FakeDeadLetters()
        self.store = InMemoryIdempotencyStore()
        self.registry = CollectorRegistry()
        auth = options.pop("auth", None) or BearerAuth.from_tokens(TOKENS)
        self.app = build_app(publisher=self.publisher, deadletters=self.deadletters, auth=auth,
                             idempotency=self.store, base_url=BASE_URL, clock=lambda: RECEIVED_AT,
                             id_factory=ids(), metrics_registry=self.registry, **options)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://testserver")


@pytest.fixture
def harness() -> AppHarness:
    return AppHarness()


@pytest.fixture
def make_harness() -> Callable[..., AppHarness]:
    return AppHarness
