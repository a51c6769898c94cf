"""Per-client rate limits: token buckets per feature, a clear refusal, one notice per streak."""

from __future__ import annotations

import math

from mimi_lsp.ratelimit import RateLimiter, Refusal, TokenBucket
from mimi_lsp.settings import LimitSettings, RateLimitSettings, resolve_settings


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def limiter(clock: Clock, **features: RateLimitSettings) -> RateLimiter:
    return RateLimiter(LimitSettings(**features), clock=clock)


def test_bucket_allows_a_burst_then_refuses() -> None:
    """A full bucket grants ``burst`` requests at once, then says how long to wait."""
    clock = Clock()
    bucket = TokenBucket(rate=1.0, burst=3, clock=clock)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == 1.0


def test_bucket_refills_at_the_rate() -> None:
    """Tokens come back at ``rate`` per second, never beyond the burst."""
    clock = Clock()
    bucket = TokenBucket(rate=2.0, burst=2, clock=clock)
    bucket.take(), bucket.take()
    clock.now += 0.5
    assert bucket.take() == 0.0 and bucket.take() > 0
    clock.now += 3600
    assert [bucket.take() for _ in range(3)][-1] > 0  # refilled to 2, not 7200


def test_zero_rate_means_no_limit() -> None:
    """perMinute 0 turns a feature's limit off."""
    rl = limiter(Clock(), chat=RateLimitSettings(per_minute=0))
    assert all(rl.check("chat") is None for _ in range(1_000))


def test_refusal_names_the_limit_the_wait_and_the_setting() -> None:
    """The refusal says which limit, when to retry and which setting raises it."""
    clock = Clock()
    rl = limiter(clock, chat=RateLimitSettings(per_minute=6, burst=1))
    assert rl.check("chat") is None
    refusal = rl.check("chat")
    assert isinstance(refusal, Refusal) and math.isclose(refusal.retry_after_s, 10.0)
    assert "6 per minute" in refusal.message and "10 s" in refusal.message
    assert "mimi.limits.chat.perMinute" in refusal.message


def test_features_have_separate_buckets() -> None:
    """Exhausting chat leaves completion untouched."""
    clock = Clock()
    rl = limiter(clock, chat=RateLimitSettings(per_minute=1, burst=1))
    rl.check("chat")
    assert rl.check("chat") is not None
    assert rl.check("completion") is None


def test_the_user_is_told_once_per_streak() -> None:
    """on_limited fires on the first refusal, not on every one; again after a recovery."""
    clock = Clock()
    rl = limiter(clock, agent=RateLimitSettings(per_minute=60, burst=1))
    told: list[str] = []
    rl.on_limited.append(lambda r: told.append(r.feature))
    rl.check("agent")
    for _ in range(5):
        rl.check("agent")
    assert told == ["agent"]
    clock.now += 1.0
    assert rl.check("agent") is None
    rl.check("agent")
    assert told == ["agent", "agent"]


def test_counts_are_reported() -> None:
    """snapshot() gives allowed and refused counts per feature (for mimi.status)."""
    rl = limiter(Clock(), search=RateLimitSettings(per_minute=60, burst=2))
    for _ in range(5):
        rl.check("search")
    assert rl.snapshot()["search"] == {"allowed": 2, "limited": 3}


def test_reconfigure_keeps_unchanged_buckets() -> None:
    """New settings replace only the buckets whose limits changed."""
    clock = Clock()
    rl = limiter(clock, chat=RateLimitSettings(per_minute=60, burst=1))
    rl.check("chat")
    rl.configure(LimitSettings(chat=RateLimitSettings(per_minute=60, burst=1)))
    assert rl.check("chat") is not None  # same limits: still empty
    rl.configure(LimitSettings(chat=RateLimitSettings(per_minute=60, burst=5)))
    assert rl.check("chat") is None  # new limits: a fresh bucket


def test_default_burst_is_twelve_seconds_of_rate() -> None:
    """Without burst, a partial override gets 12 seconds' worth (at least 3)."""
    settings, problems = resolve_settings({"limits": {"chat": {"perMinute": 100}}})
    assert not problems
    assert settings.limits.chat.capacity() == 20
    assert settings.limits.agent.capacity() == 4


def test_invalid_limits_are_rejected_not_fatal() -> None:
    """A negative rate is a settings problem shown to the user; defaults stay."""
    settings, problems = resolve_settings({"limits": {"chat": {"perMinute": -1}}})
    assert problems and "limits.chat.perMinute" in problems[0]
    assert settings.limits.chat.per_minute == 60
