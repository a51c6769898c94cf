"""Background jobs: the one ``run_task`` every part of the server starts them through.

``BackgroundTasks.run_task(coro, name=...)`` starts a task on the running loop, keeps a reference
(asyncio keeps only weak ones) and logs its failure once; ``aclose`` cancels what is left at
shutdown. ``Services`` owns one and hands its ``run_task`` to every part that needs one (the
index, the scheduler, the language server); parts built alone (tests, the CLI) get a private
``BackgroundTasks`` by default. (esbonio's ``run_task``; STYLE.md 5.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, Protocol, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class TaskRunner(Protocol):
    """Starts a background job, keeps a reference to it and logs its failure."""

    def __call__(self, coro: Coroutine[Any, Any, T], *, name: str) -> asyncio.Task[T]: ...


class BackgroundTasks:
    """The running background jobs of one owner (``Services``)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def run_task(self, coro: Coroutine[Any, Any, T], *, name: str) -> asyncio.Task[T]:
        """Run ``coro`` on the running loop (``RuntimeError`` without one: ``coro`` is closed)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            coro.close()  # never awaited: no "coroutine was never awaited" warning
            raise
        task = loop.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("background task %s failed: %s", task.get_name(), exc, exc_info=exc)

    async def aclose(self) -> None:
        """Cancel every job still running and wait for them to end."""
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current and not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


def run_soon(run_task: TaskRunner, coro: Coroutine[Any, Any, Any], *, name: str) -> None:
    """``run_task`` from code that may run without a loop (then the job is dropped)."""
    try:
        run_task(coro, name=name)
    except RuntimeError:
        log.debug("no running loop: %s not started", name)


_fallback = BackgroundTasks()


def run_task(coro: Coroutine[Any, Any, T], *, name: str) -> asyncio.Task[T]:
    """The default ``TaskRunner`` for parts built without ``Services`` (tests, benchmarks)."""
    return _fallback.run_task(coro, name=name)
