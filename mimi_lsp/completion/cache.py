"""The typed-through cache: answers the user typing along the ghost text without a model call.

On every answer we pre-store entries for the user typing 1..N characters of the suggestion
(Tabby's idea), keyed by the text just around the cursor, so each keystroke that matches the
ghost text is a dictionary lookup.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

PREFIX_KEY_CHARS = 400
SUFFIX_KEY_CHARS = 200


def cache_key(prefix: str, suffix: str) -> tuple[str, str]:
    """Key for a cursor: the last characters before it and the first after it."""
    return prefix[-PREFIX_KEY_CHARS:], suffix[:SUFFIX_KEY_CHARS]


@dataclass(frozen=True, slots=True)
class CachedSuggestion:
    text: str
    replace: int


class CompletionCache:
    """LRU with a time-to-live; values are the remaining ghost text at that cursor."""

    def __init__(
        self,
        capacity: int = 1_000,
        ttl_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = capacity
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], tuple[float, CachedSuggestion]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def get(self, prefix: str, suffix: str) -> CachedSuggestion | None:
        key = cache_key(prefix, suffix)
        entry = self._entries.get(key)
        if entry is None:
            return None
        stamp, value = entry
        if self._clock() - stamp > self.ttl_s:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def _put(self, key: tuple[str, str], value: CachedSuggestion, stamp: float) -> None:
        self._entries[key] = (stamp, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def store(
        self, prefix: str, suffix: str, text: str, replace: int = 0, typed_ahead: int = 64
    ) -> None:
        """Store ``text`` at this cursor and at each cursor reached by typing along it."""
        now = self._clock()
        self._put(cache_key(prefix, suffix), CachedSuggestion(text, replace), now)
        # Typing along: after i characters the prefix grew by text[:i]; the suffix is unchanged.
        # Stop at the first line break: editors auto-indent after Enter, so a typed newline
        # rarely reproduces the suggestion's own indentation byte for byte.
        limit = min(len(text) - 1, typed_ahead)
        for i in range(1, limit + 1):
            typed = text[:i]
            if typed[-1] in "\r\n":
                break
            self._put(cache_key(prefix + typed, suffix), CachedSuggestion(text[i:], replace), now)
