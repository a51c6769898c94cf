"""Adaptive debounce: wait a little longer than the user's typing rhythm before asking a model.

Base delay follows the mean of recent inter-request gaps (Tabby's debouncer, moved into the
server so every thin client gets it); a cursor right after a word character waits longer (the
user is mid-word), one after punctuation or at a line start waits less. Explicit invokes never
wait.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

MIN_DELAY_MS = 30.0
MAX_DELAY_MS = 300.0
DEFAULT_DELAY_MS = 75.0


class AdaptiveDebouncer:
    def __init__(self, fixed_ms: int | None = None, clock: Callable[[], float] = time.monotonic):
        self.fixed_ms = fixed_ms
        self._clock = clock
        self._gaps: deque[float] = deque(maxlen=20)
        self._last: float | None = None

    def observe(self) -> None:
        """Record a request arrival (one per keystroke-driven request)."""
        now = self._clock()
        if self._last is not None:
            gap = (now - self._last) * 1000
            if gap < 1_000:  # a pause is not a typing rhythm
                self._gaps.append(gap)
        self._last = now

    def delay_ms(self, char_before: str, invoked: bool) -> float:
        """How long to wait before calling the model for this request."""
        if invoked:
            return 0.0
        if self.fixed_ms is not None:
            return float(self.fixed_ms)
        if self._gaps:
            base = 1.25 * sum(self._gaps) / len(self._gaps)
        else:
            base = DEFAULT_DELAY_MS
        if char_before.isalnum() or char_before == "_":
            base *= 1.5
        elif char_before in "\n" or char_before == "":
            base *= 0.75
        return max(MIN_DELAY_MS, min(MAX_DELAY_MS, base))
