"""How a `Subscriber` retries a failing handler before it dead-letters the record: a pure policy."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_RETRY", "RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` tries in all; the waits between them grow by `multiplier` from `initial_s` up to `max_s`."""

    attempts: int = 3
    initial_s: float = 0.2
    multiplier: float = 2.0
    max_s: float = 5.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.initial_s < 0 or self.max_s < 0 or self.multiplier < 1:
            raise ValueError("backoff must be non-negative and must not shrink")

    def delays(self) -> tuple[float, ...]:
        """The wait before each retry (so `attempts - 1` of them)."""
        waits = []
        wait = self.initial_s
        for _ in range(self.attempts - 1):
            waits.append(min(wait, self.max_s))
            wait *= self.multiplier
        return tuple(waits)


DEFAULT_RETRY = RetryPolicy()
