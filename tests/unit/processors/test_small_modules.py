from __future__ import annotations

import importlib
import inspect
import pkgutil
import uuid

import pytest

import processors
from processors.errors import ProcessorError
from processors.lineage import normalized_event, normalized_event_id
from processors.records import InRecord, dead_letter, header, with_headers
from processors.topology import Topology
from tests.unit.processors.builders import GLUCOSE, oru_result


def test_topology_names() -> None:
    default = Topology.default()
    assert default.canonical("result") == "canonical.result.v1"
    assert default.deadletter("ownership") == "deadletter.ownership"
    assert default.identity == "carebus-processors-identity"
    assert default.retry_topics == ("carebus-processors-routing-retry-1", "carebus-processors-routing-retry-2",
                                    "carebus-processors-routing-retry-3")
    prefixed = Topology(app_id="t", prefix="x.")
    assert prefixed.normalized("patient") == "x.normalized.patient.v1"
    assert prefixed.domain_of("x.canonical.claim.v1") == "claim"
    assert prefixed.domain_of("x.normalized.claim.v1") == "claim"
    with pytest.raises(ValueError, match="no domain"):
        prefixed.domain_of("canonical.claim.v1")


def test_the_normalized_event_has_its_own_deterministic_id_pointing_back() -> None:
    event = oru_result("MRN-1", (GLUCOSE,))
    out = normalized_event(event, "E-1")  # type: ignore[arg-type]
    assert out.envelope.event_id == str(uuid.uuid5(uuid.UUID("0c6e3f0a-8b1d-4d2e-b7a4-5f9e8d7c6b5a"),
                                                   event.envelope.event_id))
    assert out.envelope.event_id == normalized_event_id(event.envelope.event_id)
    assert out.envelope.causation_id == event.envelope.event_id
    assert out.envelope.subject.enterprise_id == "E-1"
    assert out.payload == event.payload and out.envelope.correlation_id == event.envelope.correlation_id


def test_headers() -> None:
    headers = (("a", b"1"), ("carebus.domain", b"old"))
    updated = with_headers(headers, domain="result", retry_target=None)
    assert header(updated, "carebus.domain") == "result" and header(updated, "a") == "1"
    assert header(with_headers(updated, domain=None), "carebus.domain") is None
    with pytest.raises(TypeError):
        with_headers(headers, nonsense="x")


def test_a_dead_letter_keeps_bytes_key_and_event_headers() -> None:
    record = InRecord("t", 0, 5, b"key", b"bytes", (("carebus.event_id", b"e1"), ("other", b"x")))
    letter = dead_letter(record, "deadletter.routing", ProcessorError("routing", "why", "detail"), sender="S",
                         now_ms=42)
    assert (letter.topic, letter.key, letter.value) == ("deadletter.routing", b"key", b"bytes")
    assert dict(letter.headers) == {"carebus.event_id": b"e1", "carebus.dlq.stage": b"routing",
                                    "carebus.dlq.reason": b"why", "carebus.dlq.detail": b"detail",
                                    "carebus.dlq.sender": b"S", "carebus.dlq.at_ms": b"42"}


def _public_modules() -> list[str]:
    return [info.name for info in pkgutil.walk_packages(processors.__path__, "processors.")
            if not any(part.startswith("_") for part in info.name.split("."))]


@pytest.mark.parametrize("name", _public_modules())
def test_all_matches_the_public_names(name: str) -> None:
    module = importlib.import_module(name)
    declared = set(getattr(module, "__all__", ()))
    assert all(hasattr(module, item) for item in declared)
    own = {item for item, value in vars(module).items()
           if not item.startswith("_") and (inspect.isclass(value) or inspect.isfunction(value))
           and value.__module__ == name}
    assert own <= declared, f"public but not exported: {sorted(own - declared)}"
