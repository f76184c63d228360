"""Which (sender, MSH-10) pairs were accepted recently, so a resend after a lost ACK is not published twice.

A sender that never got our AA resends the same message with the same control id (MSH-10). Within
the window it gets AA again and nothing is published. The window lives in this process's memory:
one listener (or one listener per sender, the usual MLLP set-up) is covered; a resend that lands on
another instance is caught later by the processors' dedupe on (source system, original message id,
event type), which DESIGN.md places after the canonical topics.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["DEFAULT_WINDOW_S", "ResendWindow"]

DEFAULT_WINDOW_S = 24 * 60 * 60.0
DEFAULT_MAX_ENTRIES = 1_000_000


class ResendWindow:
    """A bounded, time-limited set of accepted (sender, control id) pairs."""

    def __init__(self, *, window_s: float = DEFAULT_WINDOW_S, max_entries: int = DEFAULT_MAX_ENTRIES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if window_s < 0 or max_entries < 1:
            raise ValueError("window_s must be >= 0 and max_entries >= 1")
        self._window_s = window_s
        self._max_entries = max_entries
        self._clock = clock
        self._accepted: OrderedDict[tuple[str, str], float] = OrderedDict()

    def seen(self, sender: str, control_id: str) -> bool:
        self._expire()
        return (sender, control_id) in self._accepted

    def remember(self, sender: str, control_id: str) -> None:
        key = (sender, control_id)
        self._accepted[key] = self._clock()
        self._accepted.move_to_end(key)
        while len(self._accepted) > self._max_entries:
            self._accepted.popitem(last=False)

    def __len__(self) -> int:
        return len(self._accepted)

    def _expire(self) -> None:
        horizon = self._clock() - self._window_s
        while self._accepted:
            key, accepted_at = next(iter(self._accepted.items()))
            if accepted_at >= horizon:
                return
            del self._accepted[key]
