"""Every topic the processors read and write, named once.

    canonical.<d>.v1 ─intake─▶ <app>-identity ─resolve─▶ normalized.<d>.v1 ─route─▶ subscriber topics
      decode, dedupe,   │      1 partition:     │       keyed by enterprise id  │
      ownership,        │      the index has    │                               ├▶ <app>-routing-retry-<n>
      normalize         │      one writer       │                               │   (backoff, then again)
                        └▶ deadletter.normalize └▶ deadletter.identity          └▶ deadletter.routing
                           .ownership .identity

`Topology.default()` uses the catalog's names (carebus.topics). Tests give every run a `prefix`, so the
same code runs on fresh topics (`<prefix>canonical.result.v1`, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from carebus.topics import CANONICAL_PARTITIONS, DOMAINS, canonical_topic, deadletter_topic, normalized_topic

__all__ = ["DEFAULT_APP_ID", "DEFAULT_RETRY_DELAYS_S", "Topology"]

DEFAULT_APP_ID = "carebus-processors"
DEFAULT_RETRY_DELAYS_S: tuple[float, ...] = (1.0, 10.0, 60.0)
"""Routing retries: one retry topic per delay, then `deadletter.routing`."""


@dataclass(frozen=True)
class Topology:
    """Topic names and partition counts of one processor app."""

    app_id: str = DEFAULT_APP_ID
    prefix: str = ""
    partitions: int = CANONICAL_PARTITIONS
    retry_delays_s: tuple[float, ...] = DEFAULT_RETRY_DELAYS_S

    @classmethod
    def default(cls) -> Topology:
        return cls()

    def canonical(self, domain: str) -> str:
        return f"{self.prefix}{canonical_topic(domain)}"

    def normalized(self, domain: str) -> str:
        return f"{self.prefix}{normalized_topic(domain)}"

    def deadletter(self, stage: str) -> str:
        return f"{self.prefix}{deadletter_topic(stage)}"

    @property
    def canonical_topics(self) -> tuple[str, ...]:
        return tuple(self.canonical(domain) for domain in DOMAINS)

    @property
    def normalized_topics(self) -> tuple[str, ...]:
        return tuple(self.normalized(domain) for domain in DOMAINS)

    @property
    def identity(self) -> str:
        """The internal topic in front of the enterprise index: one partition, so the index has one writer."""
        return f"{self.app_id}-identity"

    def retry(self, attempt: int) -> str:
        """The routing retry topic for `attempt` (1-based)."""
        return f"{self.app_id}-routing-retry-{attempt}"

    @property
    def retry_topics(self) -> tuple[str, ...]:
        return tuple(self.retry(attempt) for attempt in range(1, len(self.retry_delays_s) + 1))

    def domain_of(self, topic: str) -> str:
        """The domain of a canonical or normalized topic of this topology."""
        try:
            return self._domains[topic]
        except KeyError:
            raise ValueError(f"topic {topic!r} belongs to no domain") from None

    @cached_property
    def _domains(self) -> dict[str, str]:
        return {**{self.canonical(d): d for d in DOMAINS}, **{self.normalized(d): d for d in DOMAINS}}
