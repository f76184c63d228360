from __future__ import annotations

from datetime import timedelta

from processors.dedupe import check_replay, dedupe_keys, expired
from tests.unit.processors.builders import GLUCOSE, oru_result

WINDOW_S = 60.0
NOW = 1_700_000_000_000


def _remember(seen: dict[str, list[int]], decision: object) -> None:
    seen.update(dict(decision.remember))  # type: ignore[attr-defined]


def test_the_same_event_id_within_the_window_is_a_replay() -> None:
    event, seen = oru_result("MRN-1", (GLUCOSE,)), {}
    first = check_replay(event.envelope, seen, now_ms=NOW, window_s=WINDOW_S)
    assert first.replay_of is None
    _remember(seen, first)
    assert check_replay(event.envelope, seen, now_ms=NOW + 1000, window_s=WINDOW_S).replay_of == "event-id"


def test_after_the_window_it_is_new_again() -> None:
    event, seen = oru_result("MRN-1", (GLUCOSE,)), {}
    _remember(seen, check_replay(event.envelope, seen, now_ms=NOW, window_s=WINDOW_S))
    later = NOW + int(WINDOW_S * 1000)
    assert check_replay(event.envelope, seen, now_ms=later, window_s=WINDOW_S).replay_of is None
    assert expired(seen[dedupe_keys(event.envelope)[0]], now_ms=later, window_s=WINDOW_S)


def test_a_resent_message_with_new_event_ids_is_a_replay() -> None:
    first = oru_result("MRN-1", (GLUCOSE,), message_id="MSG-1")
    resent = oru_result("MRN-1", (GLUCOSE,), message_id="MSG-1",
                        received_at=first.envelope.received_at + timedelta(seconds=30))
    seen: dict[str, list[int]] = {}
    _remember(seen, check_replay(first.envelope, seen, now_ms=NOW, window_s=WINDOW_S))
    assert check_replay(resent.envelope, seen, now_ms=NOW + 30_000, window_s=WINDOW_S).replay_of == "message"


def test_sibling_events_of_one_message_all_pass() -> None:
    """An ORU^R01 with three OBR groups: three result events, one MSH-10, one received_at."""
    siblings = [oru_result("MRN-1", (GLUCOSE,), message_id="MSG-1") for _ in range(3)]
    seen: dict[str, list[int]] = {}
    for sibling in siblings:
        decision = check_replay(sibling.envelope, seen, now_ms=NOW, window_s=WINDOW_S)
        assert decision.replay_of is None
        _remember(seen, decision)


def test_without_received_at_only_the_event_id_counts() -> None:
    first = oru_result("MRN-1", (GLUCOSE,), message_id="MSG-1", received_at=None)
    again = oru_result("MRN-1", (GLUCOSE,), message_id="MSG-1", received_at=None)
    seen: dict[str, list[int]] = {}
    decision = check_replay(first.envelope, seen, now_ms=NOW, window_s=WINDOW_S)
    assert [key for key, _ in decision.remember] == [dedupe_keys(first.envelope)[0]]
    _remember(seen, decision)
    assert check_replay(again.envelope, seen, now_ms=NOW, window_s=WINDOW_S).replay_of is None


def test_keys_name_no_identifier() -> None:
    event = oru_result("MRN-SECRET-42", (GLUCOSE,), message_id="MSG-1")
    id_key, message_key = dedupe_keys(event.envelope)
    assert id_key == f"id:{event.envelope.event_id}"
    assert message_key is not None and "MSG-1" not in message_key and "MRN" not in message_key
