"""The SDK's errors, under carebus's one root.

    CarebusError
    ├── SdkError                  misuse of the SDK found when an object is built (bad topic, domain, policy)
    │   └── InvalidEventError     an event breaks its contract; names each field and why, never the value
    ├── KafkaError
    │   └── PublishError          the broker did not acknowledge (re-exported from carebus.errors)
    ├── SchemaError
    │   └── SerializationError    a value does not fit its Avro schema
    └── RegistryError             the schema registry refused or could not be reached (e.g. subject not registered)

Bad input (`InvalidEventError`) is refused before anything reaches Kafka; a broken broker or registry
(`PublishError`, `RegistryError`) is the caller's to retry or to stop on.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from carebus.errors import CarebusError, PublishError, RegistryError, SerializationError

__all__ = [
    "FieldProblem",
    "InvalidEventError",
    "PublishError",
    "RegistryError",
    "SdkError",
    "SerializationError",
]


_WHOLE_EVENT = "envelope.event_type"


class SdkError(CarebusError):
    """The SDK was used in a way it cannot work (found when the object is built)."""


@dataclass(frozen=True)
class FieldProblem:
    """One broken rule: the field's dotted path (`envelope.source.system`) and pydantic's reason code."""

    field: str
    reason: str


class InvalidEventError(SdkError):
    """An event does not validate against its contract. Carries field paths and reason codes only."""

    def __init__(self, model: str, problems: tuple[FieldProblem, ...]) -> None:
        listed = "; ".join(f"{problem.field}: {problem.reason}" for problem in problems)
        super().__init__(f"invalid {model}: {listed}")
        self.model = model
        self.problems = problems

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(problem.field for problem in self.problems)

    @classmethod
    def from_validation(cls, model: str, error: ValidationError, *, prefix: str = "") -> InvalidEventError:
        """Translate pydantic's error: keep `loc` and `type`, drop `msg` and `input` (they may quote a value).

        An event model's one whole-model rule is that the event type belongs to its domain, so an error
        with no location on an event is reported against `envelope.event_type`.
        """
        problems = tuple(
            FieldProblem(field=".".join(part for part in (prefix, _dotted(item["loc"])) if part) or _WHOLE_EVENT,
                         reason=str(item["type"]) if item["loc"] or prefix else "event_type_not_in_domain")
            for item in error.errors(include_url=False, include_input=False, include_context=False)
        )
        return cls(model, problems)


def _dotted(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)
