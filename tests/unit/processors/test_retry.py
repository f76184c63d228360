from __future__ import annotations

from processors.retry import next_retry, wait_s

DELAYS = (1.0, 10.0, 60.0)


def test_attempts_walk_the_retry_topics_then_stop() -> None:
    assert [next_retry(n, DELAYS).attempt for n in range(4)] == [1, 2, 3, None]
    assert next_retry(0, ()).attempt is None


def test_a_record_waits_its_topics_delay_from_when_it_was_written() -> None:
    assert wait_s(2, DELAYS, written_at_ms=1_000, now_ms=1_000) == 10.0
    assert wait_s(2, DELAYS, written_at_ms=1_000, now_ms=8_500) == 2.5
    assert wait_s(1, DELAYS, written_at_ms=1_000, now_ms=99_000) == 0.0
