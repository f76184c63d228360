"""Settings, read once from the environment by the entry point and passed down as arguments.

Library classes never read `os.environ`; they take the pieces of `Settings` they need. Names follow
DESIGN.md: `KAFKA_BOOTSTRAP_SERVERS`, `SCHEMA_REGISTRY_URL`, `CAREBUS_DATABASE_URL`, and
`CAREBUS_*` for the rest. An unset `KAFKA_BOOTSTRAP_SERVERS` means "use the embedded local broker".
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "DEFAULT_DATABASE_URL",
    "DEFAULT_FHIR_PORT",
    "DEFAULT_HOME",
    "DEFAULT_KAFKA_VERSION",
    "DEFAULT_REGISTRY_PORT",
    "Settings",
]

DEFAULT_KAFKA_VERSION = "4.1.2"
DEFAULT_HOME = Path.home() / ".cache" / "carebus"
DEFAULT_REGISTRY_PORT = 8081
DEFAULT_DATABASE_URL = "sqlite:///carebus.db"
DEFAULT_FHIR_PORT = 8080

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]


class Settings(BaseSettings):
    """Everything carebus reads from its environment. Frozen: read once, never changed."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", env_prefix="CAREBUS_")

    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "CAREBUS_KAFKA_BOOTSTRAP_SERVERS"),
        description="host:port[,host:port]; unset means the embedded local broker.",
    )
    schema_registry_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SCHEMA_REGISTRY_URL", "CAREBUS_SCHEMA_REGISTRY_URL"),
        description="Any Confluent-compatible registry; unset means the built-in one.",
    )
    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        validation_alias=AliasChoices("CAREBUS_DATABASE_URL"),
    )

    # Passed through to librdkafka for real clusters.
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_ca_location: str | None = None
    kafka_ssl_certificate_location: str | None = None
    kafka_ssl_key_location: str | None = None
    kafka_ssl_key_password: SecretStr | None = None

    # FHIR ingest: the public base URL, and the API clients as {"sha256:<hex of token>": {name, scopes}}.
    fhir_port: int = DEFAULT_FHIR_PORT
    fhir_base_url: str | None = None
    fhir_clients: SecretStr = SecretStr("{}")
    fhir_allow_anonymous: bool = False
    fhir_idempotency_ttl_s: float = 24 * 60 * 60.0

    home: Path = Field(default=DEFAULT_HOME, description="Jar cache and local broker state.")
    kafka_version: str = DEFAULT_KAFKA_VERSION
    registry_port: int = DEFAULT_REGISTRY_PORT
