"""librdkafka configuration built from `Settings`, with carebus's guarantees fixed in code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from carebus.settings import Settings

__all__ = [
    "DURABLE_PRODUCER_CONFIG",
    "KafkaConnection",
]

# The ACK path's guarantee: an event counts as published only once every in-sync replica has it,
# and a retry can never write it twice. Callers cannot override these keys.
DURABLE_PRODUCER_CONFIG: dict[str, Any] = {
    "acks": "all",
    "enable.idempotence": True,
    "max.in.flight.requests.per.connection": 5,
    "compression.type": "lz4",
    "linger.ms": 2,
    # librdkafka's default (consistent_random, CRC32) places keys differently from the Java client,
    # aiokafka and so faust; murmur2 keeps a patient on the partition every stream processor expects.
    "partitioner": "murmur2_random",
}


@dataclass(frozen=True)
class KafkaConnection:
    """How to reach a cluster: bootstrap servers plus security settings for librdkafka."""

    bootstrap_servers: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = field(default=None, repr=False)
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: SecretStr | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, bootstrap_servers: str) -> KafkaConnection:
        return cls(
            bootstrap_servers=bootstrap_servers,
            security_protocol=settings.kafka_security_protocol,
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_username=settings.kafka_sasl_username,
            sasl_password=settings.kafka_sasl_password,
            ssl_ca_location=settings.kafka_ssl_ca_location,
            ssl_certificate_location=settings.kafka_ssl_certificate_location,
            ssl_key_location=settings.kafka_ssl_key_location,
            ssl_key_password=settings.kafka_ssl_key_password,
        )

    def as_librdkafka_dict(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
        }
        optional = {
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.sasl_username,
            "sasl.password": self.sasl_password.get_secret_value() if self.sasl_password else None,
            "ssl.ca.location": self.ssl_ca_location,
            "ssl.certificate.location": self.ssl_certificate_location,
            "ssl.key.location": self.ssl_key_location,
            "ssl.key.password": self.ssl_key_password.get_secret_value() if self.ssl_key_password else None,
        }
        config.update({key: value for key, value in optional.items() if value is not None})
        return config
