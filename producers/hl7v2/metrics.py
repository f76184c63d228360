"""Prometheus metrics of the MLLP listener. Labels are message type, ACK code and outcome: never an id."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["KNOWN_MESSAGE_TYPES", "Hl7Metrics"]

# A label value comes from the sender's MSH-9; anything outside this set is counted as "other", so a
# misbehaving sender cannot grow the metric's cardinality.
KNOWN_MESSAGE_TYPES = frozenset({
    *(f"ADT^A{n:02d}" for n in range(1, 62)),
    "ORM^O01", "OML^O21", "ORU^R01", "REF^I12", "REF^I13", "REF^I14", "DFT^P03", "DFT^P11",
})
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Hl7Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.messages_received = Counter("carebus_hl7_messages_received_total", "HL7 v2 messages received",
                                         ["message_type"], registry=registry)
        self.bytes_received = Counter("carebus_hl7_bytes_received_total", "HL7 v2 message bytes received",
                                      registry=registry)
        self.acks = Counter("carebus_hl7_acks_total", "ACKs sent, by code and outcome",
                            ["message_type", "ack_code", "outcome"], registry=registry)
        self.events_published = Counter("carebus_hl7_events_published_total",
                                        "canonical events published from HL7 v2", ["message_type"],
                                        registry=registry)
        self.ack_latency = Histogram("carebus_hl7_ack_latency_seconds", "frame received to ACK ready",
                                     ["message_type"], buckets=LATENCY_BUCKETS, registry=registry)
        self.open_connections = Gauge("carebus_hl7_open_connections", "open MLLP connections",
                                      registry=registry)
        self.framing_errors = Counter("carebus_hl7_framing_errors_total", "framing problems by kind",
                                      ["kind"], registry=registry)

    @staticmethod
    def message_type_label(code: str, trigger: str) -> str:
        label = f"{code}^{trigger}"
        return label if label in KNOWN_MESSAGE_TYPES else "other"

    def received(self, message_type: str, size: int) -> None:
        self.messages_received.labels(message_type).inc()
        self.bytes_received.inc(size)

    def acked(self, message_type: str, ack_code: str, *, outcome: str, events: int = 0) -> None:
        self.acks.labels(message_type, ack_code, outcome).inc()
        if events:
            self.events_published.labels(message_type).inc(events)

    def observe_latency(self, message_type: str, seconds: float) -> None:
        self.ack_latency.labels(message_type).observe(seconds)
