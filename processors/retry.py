"""Retry with backoff through retry topics: which topic an attempt goes to, and how long it waits there.

A routing delivery that fails for a transient reason (the subscriber topic does not exist yet) is written to
retry topic 1 with its attempt count in a header; the agent on retry topic n holds each record until
`delays[n-1]` seconds after it was written (the record's own timestamp), then tries again. A failure moves
it on to topic n+1; after the last topic it goes to `deadletter.routing` (`retries-exhausted`). Each retry
topic is FIFO and every record on it waits the same time, so holding the head of a partition holds nothing
that is already due.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RetryStep", "next_retry", "wait_s"]


@dataclass(frozen=True)
class RetryStep:
    attempt: int | None
    """The retry topic (1-based) for the next attempt, or None when the retries are used up."""


def next_retry(failed_attempt: int, delays_s: tuple[float, ...]) -> RetryStep:
    """After attempt `failed_attempt` failed (0: the first delivery), where the record goes next."""
    following = failed_attempt + 1
    return RetryStep(following if following <= len(delays_s) else None)


def wait_s(attempt: int, delays_s: tuple[float, ...], *, written_at_ms: int, now_ms: int) -> float:
    """How long a record written to retry topic `attempt` at `written_at_ms` still has to wait."""
    due_ms = written_at_ms + delays_s[attempt - 1] * 1000
    return max(0.0, (due_ms - now_ms) / 1000)
