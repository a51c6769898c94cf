"""How long the completion model takes, and the completion timeout sized from it.

A real model on a laptop CPU can need several seconds per answer; with a fixed 5 s timeout every
completion fails and the user sees only "error". The engine (``engine.py``) follows the first
answer that times out to its end, in the background, to *measure* the model, and reports through
``ModelClock``: one message that names ``mimi.completion.timeoutMs``, the model's measured time and
the value to set. When the user never set the timeout, the session's timeout is sized from the
measurement instead (up to ``AUTO_TIMEOUT_MAX_MS``), so completions start to arrive. LSP-free.
"""

from __future__ import annotations

import math

from mimi_lsp.errors import BackendTimeout

MEASURE_LIMIT_S = 120.0
"""How long a timed-out answer is followed to learn the model's time."""
AUTO_TIMEOUT_MAX_MS = 60_000
"""An automatic timeout never exceeds this: slower models need the user's decision."""
SETTING = "mimi.completion.timeoutMs"


def suggested_timeout_ms(measured_ms: float) -> int:
    """A timeout with room for a model that needs ``measured_ms``: 1.5x plus 1 s, whole seconds."""
    return int(math.ceil((measured_ms * 1.5 + 1_000) / 1_000) * 1_000)


class ModelClock:
    """The effective completion timeout and what the user is told about slow models."""

    def __init__(self, configured_ms: int, user_set: bool) -> None:
        self.configured_ms = configured_ms
        self.user_set = user_set
        """The user chose the timeout (an automatic one would overrule them)."""
        self.timeout_ms = configured_ms
        self.measured_ms: float | None = None
        self.measuring = False
        self.timing_out = False
        """The latest completion timed out (set by the engine on each result)."""

    @property
    def should_measure(self) -> bool:
        """Whether the next timed-out answer should be followed to its end."""
        return self.measured_ms is None and not self.measuring

    def timeout_error(self) -> BackendTimeout:
        """The error for a completion given up after ``timeout_ms``."""
        if self.measured_ms is None:
            return BackendTimeout(
                f"The model did not answer within {self.timeout_ms} ms ({SETTING}); "
                "measuring how long it takes.",
                fix=f"Raise {SETTING} or use a smaller model.",
            )
        return BackendTimeout(
            f"The model needs {_seconds(self.measured_ms)} per answer, more than "
            f"{SETTING} ({self.timeout_ms} ms).",
            fix=f"Set {SETTING} to {suggested_timeout_ms(self.measured_ms)} "
            "or use a smaller model.",
        )

    def measured(self, elapsed_ms: float | None) -> BackendTimeout:
        """Record a measurement (None: no answer within ``MEASURE_LIMIT_S``); the one message
        to show. Adopts an automatic timeout when the user never set one and it is not absurd."""
        self.measuring = False
        limit_ms = MEASURE_LIMIT_S * 1000
        self.measured_ms = limit_ms if elapsed_ms is None else elapsed_ms
        took = f"more than {_seconds(limit_ms)}" if elapsed_ms is None else _seconds(elapsed_ms)
        suggested = suggested_timeout_ms(self.measured_ms)
        if not self.user_set and elapsed_ms is not None and suggested <= AUTO_TIMEOUT_MAX_MS:
            before, self.timeout_ms = self.timeout_ms, suggested
            return BackendTimeout(
                f"Completions timed out: the model took {took} to answer, more than the "
                f"{before} ms default of {SETTING}. The timeout is now {suggested} ms for this "
                "session.",
                fix=f"Set {SETTING} to choose it, or use a smaller, faster model.",
            )
        return BackendTimeout(
            f"Completions time out: the model took {took} to answer, more than {SETTING} "
            f"({self.timeout_ms} ms).",
            fix=f"Set {SETTING} to {suggested} or use a smaller, faster model.",
        )


def _seconds(ms: float) -> str:
    return f"{ms / 1000:.1f} s"
