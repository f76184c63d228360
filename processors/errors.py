"""The stream processors' errors.

    CarebusError
    ├── ConfigError                    (carebus.errors) bad settings, caught when an object is built
    │   └── ConfigFileError            an operator data file in config/ is invalid: file, line, reason
    └── ProcessorError                 one record cannot go through a stage: stage + reason code
        ├── UndecodableEventError      the bytes are not a canonical event (wire format, Avro, contract)
        ├── IdentityError              the event names no patient identifier the index can use
        └── TransientError             the stage could not run now (registry unreachable); retry later

A `ProcessorError` becomes a dead letter on `deadletter.<stage>` with `reason` in its headers, except
`TransientError`, which is retried (inline, or through retry topics for routing) and stops the worker if
the failure outlasts the retries. Messages carry stage, reason code, file and line, never a value from an event.
"""

from __future__ import annotations

from carebus.errors import CarebusError, ConfigError

__all__ = [
    "ConfigFileError",
    "IdentityError",
    "ProcessorError",
    "TransientError",
    "UndecodableEventError",
]


class ConfigFileError(ConfigError):
    """An operator data file (mapping table, catalog, rules) is invalid."""

    def __init__(self, path: str, reason: str, *, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


class ProcessorError(CarebusError):
    """A record that a stage cannot process: `stage` and `reason` go into the dead letter's headers."""

    def __init__(self, stage: str, reason: str, detail: str = "") -> None:
        super().__init__(f"{stage}: {reason}" + (f" ({detail})" if detail else ""))
        self.stage = stage
        self.reason = reason
        self.detail = detail


class UndecodableEventError(ProcessorError):
    """Not a canonical event: bad wire format, Avro that does not decode, or a value the contract forbids."""


class IdentityError(ProcessorError):
    """The event names no patient identifier the enterprise index can match on."""


class TransientError(ProcessorError):
    """A dependency (the schema registry, a subscriber topic) is unavailable now; the record is retried."""
