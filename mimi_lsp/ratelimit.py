"""Per-client rate limits on model-backed requests: one token bucket per feature.

Each language server process serves exactly one client (stdio, TCP, or one WebSocket of
``mimi-lsp web``), so the limiter lives in that process's ``Services`` and a bucket per feature
(``completion``, ``chat``, ``agent``, ``search``) is a per-client limit. The completion engine
asks it only after a cache miss (typed-through cache hits cost the model nothing and are never
limited); the protocol layer asks it before running a model-backed command. A refused request
gets a clear answer, and the user is told once per streak (``on_limited`` fires on the first
refusal after a request was allowed), never once per keystroke. Nothing here imports pygls or
lsprotocol.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mimi_lsp import metrics
from mimi_lsp.settings import LimitSettings, RateLimitSettings

log = logging.getLogger(__name__)

FEATURES = ("completion", "chat", "agent", "search")

Clock = Callable[[], float]


class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` tokens per second; one token per request."""

    def __init__(self, rate: float, burst: float, clock: Clock = time.monotonic) -> None:
        self.rate = max(0.0, rate)
        self.capacity = max(1.0, burst)
        self.clock = clock
        self.tokens = self.capacity
        self.stamp = clock()
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.stamp)
        self.stamp = now
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)

    def take(self, n: float = 1.0) -> float:
        """Take ``n`` tokens: 0.0 when granted, else seconds until they would be there."""
        with self._lock:
            now = self.clock()
            self._refill(now)
            if self.tokens >= n:
                self.tokens -= n
                return 0.0
            if self.rate <= 0:
                return math.inf
            return (n - self.tokens) / self.rate


@dataclass
class FeatureLimit:
    """One feature's bucket and counters."""

    settings: RateLimitSettings
    bucket: TokenBucket | None
    allowed: int = 0
    limited: int = 0
    streak: bool = False
    """True while requests are being refused (the user was told already)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refused request: what to tell the user."""

    feature: str
    retry_after_s: float
    message: str


@dataclass
class RateLimiter:
    """Token buckets for one client's model-backed requests."""

    settings: LimitSettings = field(default_factory=LimitSettings)
    clock: Clock = time.monotonic
    on_limited: list[Callable[[Refusal], None]] = field(default_factory=list)
    """Called on the first refusal of a streak (a message for the user, once)."""

    def __post_init__(self) -> None:
        self._features: dict[str, FeatureLimit] = {}
        self.configure(self.settings)

    def configure(self, settings: LimitSettings) -> None:
        """Adopt new limits; buckets whose limits did not change keep their tokens."""
        self.settings = settings
        for feature in FEATURES:
            limit: RateLimitSettings = getattr(settings, feature)
            current = self._features.get(feature)
            if current is not None and current.settings == limit:
                continue
            bucket = (
                TokenBucket(limit.per_minute / 60.0, limit.capacity(), self.clock)
                if limit.per_minute > 0
                else None
            )
            old = current or FeatureLimit(limit, None)
            self._features[feature] = FeatureLimit(limit, bucket, old.allowed, old.limited)

    def check(self, feature: str) -> Refusal | None:
        """Admit one ``feature`` request (None) or refuse it (a ``Refusal``)."""
        state = self._features.get(feature)
        if state is None or state.bucket is None:
            return None
        wait = state.bucket.take()
        if wait == 0.0:
            state.allowed += 1
            state.streak = False
            return None
        state.limited += 1
        retry = 60.0 if math.isinf(wait) else wait
        refusal = Refusal(
            feature,
            retry,
            f"Too many {feature} requests from this editor (limit "
            f"{state.settings.per_minute} per minute, bursts of {state.settings.capacity()}); "
            f"try again in {max(1, math.ceil(retry))} s. "
            f"Raise mimi.limits.{feature}.perMinute if this is expected.",
        )
        metrics.count_rate_limited(feature)
        if not state.streak:
            state.streak = True
            for listener in list(self.on_limited):
                try:
                    listener(refusal)
                except Exception:  # a listener must never break admission
                    log.debug("rate limit listener failed", exc_info=True)
        return refusal

    def snapshot(self) -> dict[str, dict[str, int]]:
        """Allowed and refused counts per feature, for ``mimi.status``."""
        return {
            name: {"allowed": f.allowed, "limited": f.limited} for name, f in self._features.items()
        }
