"""Route: the operator's rules (`config/routing.yaml`) send each normalized event to subscriber topics.

    rules:
      - name: critical-results
        description: critical lab values to the care team's queue
        event_type: [result.finalized, result.corrected]      # fnmatch patterns; default "*"
        where:                                                 # all must hold; default: no condition
          payload.observations[*].critical: true               # `[*]`: any element
          envelope.source.system: [DEMOLAB, LABGEM]            # a list: any of these values
        to: [care-team.critical-results.v1]

Every rule that matches adds its topics (fan-out; each topic once, in rule order). An event no rule matches
stays on its normalized topic only. Paths address the event as Avro reads it (`envelope...`, `payload...`).

A subscriber topic must be a plain Kafka topic name outside carebus's governed ones (`canonical.*`,
`normalized.*`, `deadletter.*`, `audit.*`, `workflow.*`, `_schemas`): rules cannot write into the contract's
topics. The rules file is checked when loaded, so a bad edit is refused and the previous rules stay in force.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from processors.errors import ConfigFileError

__all__ = ["ROUTING_FILE", "RoutingRule", "RoutingRules", "field_values", "load_routing_rules"]

ROUTING_FILE: Final = "routing.yaml"
_TOPIC_NAME: Final = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_GOVERNED_PREFIXES: Final = ("canonical.", "normalized.", "deadletter.", "audit.", "workflow.", "_")
_PATH_PART: Final = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(\[\*\])?$")


class RoutingRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1)
    description: str | None = None
    event_types: tuple[str, ...] = Field(("*",), alias="event_type", min_length=1)
    where: Mapping[str, Any] = Field(default_factory=dict)
    to: tuple[str, ...] = Field(min_length=1)

    @field_validator("event_types", "to", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value

    @field_validator("to")
    @classmethod
    def _subscriber_topics(cls, topics: tuple[str, ...]) -> tuple[str, ...]:
        for topic in topics:
            if not _TOPIC_NAME.match(topic):
                raise ValueError(f"{topic!r} is not a valid topic name")
            if topic.startswith(_GOVERNED_PREFIXES):
                raise ValueError(f"{topic!r} is a governed carebus topic; route to a subscriber topic")
        return topics

    @field_validator("where")
    @classmethod
    def _paths(cls, where: Mapping[str, Any]) -> Mapping[str, Any]:
        for path in where:
            if not all(_PATH_PART.match(part) for part in path.split(".")):
                raise ValueError(f"{path!r} is not a field path (name.name[*].name)")
        return where

    def matches_type(self, event_type: str) -> bool:
        return any(fnmatch.fnmatchcase(event_type, pattern) for pattern in self.event_types)

    def matches(self, record: Mapping[str, Any]) -> bool:
        return all(_holds(field_values(record, path), expected) for path, expected in self.where.items())


class _RoutingFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: tuple[RoutingRule, ...] = ()


@dataclass(frozen=True)
class RoutingRules:
    rules: tuple[RoutingRule, ...] = ()

    def candidates(self, event_type: str) -> tuple[RoutingRule, ...]:
        return tuple(rule for rule in self.rules if rule.matches_type(event_type))

    def targets(self, event_type: str, record: Mapping[str, Any] | None) -> tuple[str, ...]:
        """The subscriber topics for an event. `record` (the event as Avro reads it) may be None when no
        candidate rule has a `where` (`needs_record`): then the event type alone decides."""
        topics: dict[str, None] = {}
        for rule in self.candidates(event_type):
            if rule.where and (record is None or not rule.matches(record)):
                continue
            topics.update(dict.fromkeys(rule.to))
        return tuple(topics)

    def needs_record(self, event_type: str) -> bool:
        return any(rule.where for rule in self.candidates(event_type))

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(topic for rule in self.rules for topic in rule.to))


def field_values(record: Any, path: str) -> list[Any]:
    """Every value at `path` in `record`; `name[*]` fans out over a list. Missing parts give no values."""
    current: list[Any] = [record]
    for part in path.split("."):
        match = _PATH_PART.match(part)
        if match is None:
            return []
        name, star = match.groups()
        nxt: list[Any] = []
        for value in current:
            if isinstance(value, Mapping) and name in value:
                child = value[name]
                if star:
                    if isinstance(child, Sequence) and not isinstance(child, str | bytes):
                        nxt.extend(child)
                else:
                    nxt.append(child)
        current = nxt
    return current


def _holds(found: list[Any], expected: Any) -> bool:
    wanted = expected if isinstance(expected, list) else [expected]
    return any(value == target or (isinstance(target, str) and str(value) == target)
               for value in found if value is not None for target in wanted)


def load_routing_rules(path: Path) -> RoutingRules:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigFileError(str(path), f"cannot read ({type(exc).__name__})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigFileError(str(path), "not valid YAML", line=mark.line + 1 if mark else None) from exc
    try:
        parsed = _RoutingFile.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigFileError(str(path), f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    names = [rule.name for rule in parsed.rules]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ConfigFileError(str(path), f"rule names must be unique: {', '.join(duplicated)}")
    return RoutingRules(parsed.rules)
