"""Bearer tokens with SMART-style scopes, configured by the operator (no OAuth server involved).

The operator gives each client a random token and a set of scopes. Only the token's SHA-256 is kept (in memory
and, preferably, in configuration), so the configuration does not hold usable secrets:

    CAREBUS_FHIR_CLIENTS='{"sha256:9f86d0...": {"name": "lab-lis",
                            "scopes": "system/Observation.write system/DiagnosticReport.write"}}'

`BearerAuth.from_config(text)` reads that JSON; `BearerAuth.from_tokens({token: Client(...)})` hashes plain
tokens (tests, `carebus fhir token`-style tooling). Tokens must be high-entropy random strings: a fast hash is
then enough, and a lookup by hash leaks nothing useful through timing.

Scopes (SMART App Launch v1 and v2 syntax), for the two interactions this server has:

- `system/Patient.write`, `user/Patient.write`, `system/*.write`, `system/*.*` allow create and update;
- v2: `system/Patient.c` (create), `system/Patient.u` (update), `system/Patient.cruds`, `system/*.cu`, ...
- `patient/...` scopes grant nothing here: a patient-context token is bound to one patient's compartment, which
  an ingest endpoint cannot check without a store.

Anonymous writes happen only when `allow_anonymous=True`, and only for requests that carry no Authorization
header at all; a wrong token is still a 401.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from carebus.errors import ConfigError

__all__ = [
    "ANONYMOUS",
    "AuthFailure",
    "BearerAuth",
    "Client",
    "Principal",
    "hash_token",
    "is_allowed",
    "parse_scopes",
]

REALM: Final = "carebus-fhir"
_SCOPE: Final = re.compile(r"^(?P<context>patient|user|system)/(?P<type>\*|[A-Z][A-Za-z]{1,63})\."
                           r"(?P<access>read|write|\*|c?r?u?d?s?)$")
_HASH: Final = re.compile(r"^sha256:[0-9a-f]{64}$")
_WRITE_CONTEXTS: Final = frozenset({"user", "system"})

ScopeInteraction = Literal["create", "update"]


def hash_token(token: str) -> str:
    """The form tokens are configured and looked up in: `sha256:<hex>`."""
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_scopes(text: str | Iterable[str]) -> frozenset[str]:
    """Split and check a scope list (space-separated, or an iterable); raise ConfigError for a malformed one."""
    scopes = frozenset(text.split() if isinstance(text, str) else text)
    for scope in scopes:
        match = _SCOPE.match(scope)
        if match is None or match.group("access") == "":
            raise ConfigError(f"not a SMART scope: {scope!r}")
    return scopes


def is_allowed(scopes: Iterable[str], resource_type: str, interaction: ScopeInteraction) -> bool:
    """True when one of `scopes` lets its holder `interaction` a `resource_type`."""
    letter = "c" if interaction == "create" else "u"
    for scope in scopes:
        match = _SCOPE.match(scope)
        if match is None or match.group("context") not in _WRITE_CONTEXTS:
            continue
        if match.group("type") not in ("*", resource_type):
            continue
        access = match.group("access")
        if access in ("write", "*") or (access not in ("read", "") and letter in access):
            return True
    return False


@dataclass(frozen=True)
class Client:
    """A configured client: its name (the events' `Source.system`), scopes and, optionally, its facility."""

    name: str
    scopes: frozenset[str]
    facility: str | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigError("a FHIR client needs a name")
        object.__setattr__(self, "scopes", parse_scopes(self.scopes))


@dataclass(frozen=True)
class Principal:
    """Who is calling: a configured client, or the anonymous writer when that is enabled."""

    name: str
    scopes: frozenset[str]
    facility: str | None = None
    anonymous: bool = False

    def may(self, resource_type: str, interaction: ScopeInteraction) -> bool:
        return is_allowed(self.scopes, resource_type, interaction)


ANONYMOUS: Final = Principal(name="anonymous", scopes=frozenset({"system/*.write"}), anonymous=True)


@dataclass(frozen=True)
class AuthFailure:
    """Why a request is not authenticated, and the WWW-Authenticate challenge to send with the 401."""

    reason: Literal["missing-token", "invalid-token"]
    challenge: str


@dataclass(frozen=True)
class BearerAuth:
    """Authenticates `Authorization: Bearer <token>` against configured token hashes."""

    clients: Mapping[str, Client] = field(default_factory=dict)
    """Token hash (`sha256:<hex>`) -> client."""
    allow_anonymous: bool = False

    def __post_init__(self) -> None:
        for token_hash in self.clients:
            if not _HASH.match(token_hash):
                raise ConfigError("FHIR client tokens must be configured as sha256:<64 lowercase hex digits>")
        if not self.clients and not self.allow_anonymous:
            raise ConfigError("no FHIR clients configured and anonymous writes are disabled: nobody could write")

    @classmethod
    def from_tokens(cls, tokens: Mapping[str, Client], *, allow_anonymous: bool = False) -> BearerAuth:
        return cls({hash_token(token): client for token, client in tokens.items()}, allow_anonymous=allow_anonymous)

    @classmethod
    def from_config(cls, text: str, *, allow_anonymous: bool = False) -> BearerAuth:
        """Read `{"sha256:<hex>": {"name": ..., "scopes": "...", "facility": ...}}` (see the module docstring)."""
        try:
            raw = json.loads(text) if text.strip() else {}
        except ValueError:
            raise ConfigError("the FHIR client configuration is not JSON") from None
        if not isinstance(raw, dict):
            raise ConfigError("the FHIR client configuration must be a JSON object keyed by token hash")
        clients = {}
        for token_hash, entry in raw.items():
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                raise ConfigError("each FHIR client needs a name and scopes")
            clients[str(token_hash)] = Client(name=entry["name"], scopes=parse_scopes(entry.get("scopes", "")),
                                              facility=entry.get("facility"))
        return cls(clients, allow_anonymous=allow_anonymous)

    def authenticate(self, authorization: str | None) -> Principal | AuthFailure:
        """The caller behind an Authorization header, or why there is none."""
        if authorization is None or not authorization.strip():
            if self.allow_anonymous:
                return ANONYMOUS
            return AuthFailure("missing-token", f'Bearer realm="{REALM}"')
        scheme, _, token = authorization.strip().partition(" ")
        client = self.clients.get(hash_token(token.strip())) if scheme.lower() == "bearer" and token.strip() else None
        if client is None:
            return AuthFailure("invalid-token", f'Bearer realm="{REALM}", error="invalid_token"')
        return Principal(name=client.name, scopes=client.scopes, facility=client.facility)

    def insufficient_scope(self, needed: str) -> str:
        """The WWW-Authenticate challenge for a 403."""
        return f'Bearer realm="{REALM}", error="insufficient_scope", scope="{needed}"'
