"""Backend health: the one table that classifies failures, and the board that tracks them.

``classify`` says what a failure means for the user, the same for every feature: the model
server cannot be used until they act (``unavailable``: down, model missing, no FIM support) or
one request failed (``error``: an error answer, garbage, a timeout). ``HealthBoard`` keeps each
feature's state (``completion``, ``chat``), tells its listeners once per change (the language
server turns that into ``mimi/status``), and probes a backend it marked unavailable with
back-off until it answers again, so every client learns it is back without a keystroke.
LSP-free.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from mimi_lsp.domain import BackendHealth, HealthState
from mimi_lsp.errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    FimUnsupported,
    MimiError,
    ModelNotFound,
)
from mimi_lsp.tasks import TaskRunner

log = logging.getLogger(__name__)

OK = BackendHealth(HealthState.OK)
PROBE_DELAYS_S: tuple[float, ...] = (1, 2, 4, 8, 15, 30)
"""Waits between probes of an unavailable backend; the last one repeats."""

Probe = Callable[[], Awaitable[BackendHealth]]
Listener = Callable[[str, BackendHealth], None]


def classify(error: BaseException | None) -> BackendHealth | None:
    """The health a failure means (``OK`` for none); None when it says nothing of the backend."""
    if error is None:
        return OK
    if isinstance(error, BackendUnavailable | ModelNotFound | FimUnsupported):
        return BackendHealth(HealthState.UNAVAILABLE, error.message, error.fix)
    if isinstance(error, BackendError | BackendTimeout):
        return BackendHealth(HealthState.ERROR, error.message, error.fix)
    return None


class HealthBoard:
    """Each feature's backend health; listeners hear every change, once."""

    def __init__(self, run_task: TaskRunner, delays: Sequence[float] = PROBE_DELAYS_S) -> None:
        self._run_task = run_task
        self.delays = tuple(delays)
        self._health: dict[str, BackendHealth] = {}
        self._probes: dict[str, Probe] = {}
        self._probing: dict[str, asyncio.Task[None]] = {}
        self._listeners: list[Listener] = []

    def on_change(self, listener: Listener) -> None:
        """``listener(feature, health)`` after every change of a feature's health."""
        self._listeners.append(listener)

    def set_probe(self, feature: str, probe: Probe) -> None:
        """How to re-check ``feature``'s backend (returns its health; used while unavailable)."""
        self._probes[feature] = probe

    def get(self, feature: str) -> BackendHealth:
        return self._health.get(feature, OK)

    def report(self, feature: str, error: BaseException | None) -> None:
        """A call of ``feature`` succeeded (None) or failed with ``error``."""
        health = classify(error)
        if health is not None:
            self.set(feature, health)

    def set(self, feature: str, health: BackendHealth) -> None:
        """Record ``health``; listeners hear it when the state or the message changed."""
        old = self.get(feature)
        if (old.state, old.message) == (health.state, health.message):
            return
        self._health[feature] = health
        if health.state == HealthState.UNAVAILABLE:
            self._start_probing(feature)
        for listener in list(self._listeners):
            try:
                listener(feature, health)
            except Exception:
                log.exception("health listener failed")

    def snapshot(self) -> dict[str, BackendHealth]:
        return dict(self._health)

    # ------------------------------------------------------------------ probing

    def _start_probing(self, feature: str) -> None:
        running = self._probing.get(feature)
        if feature not in self._probes or (running is not None and not running.done()):
            return
        try:
            self._probing[feature] = self._run_task(
                self._probe_loop(feature), name=f"mimi-probe-{feature}"
            )
        except RuntimeError:
            pass  # no loop (a test building services alone): nothing to probe with

    async def _probe_loop(self, feature: str) -> None:
        attempt = 0
        while self.get(feature).state == HealthState.UNAVAILABLE:
            await asyncio.sleep(self.delays[min(attempt, len(self.delays) - 1)])
            attempt += 1
            if self.get(feature).state != HealthState.UNAVAILABLE:
                return  # a request found it back first
            try:
                health = await self._probes[feature]()
            except MimiError as exc:
                health = classify(exc) or self.get(feature)
            except Exception:
                log.debug("probing the %s backend failed", feature, exc_info=True)
                continue
            if health.state != HealthState.UNAVAILABLE:
                log.info("%s backend is back", feature)
            self.set(feature, health)

    async def aclose(self) -> None:
        for task in self._probing.values():
            task.cancel()
        self._probing.clear()
