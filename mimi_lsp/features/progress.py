"""The one ``$/progress`` helper: agent runs and index work report through ``WorkProgress``.

``begin`` asks the client for a token (``window/workDoneProgress/create``, bounded: a client
that never answers must not hold the work hostage) and sends the begin report; ``report`` and
``end`` follow. With ``cancel_task`` the client's cancel button cancels that task and sets
``cancelled_by_user``. Clients without ``window.workDoneProgress`` get nothing, at no cost.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

from lsprotocol import types

from mimi_lsp.language_server import MimiServer

log = logging.getLogger(__name__)

CREATE_TIMEOUT_S = 5.0
_tokens = itertools.count(1)


class WorkProgress:
    """One ``$/progress`` report from begin to end."""

    def __init__(self, server: MimiServer, name: str) -> None:
        self.server = server
        self.token = f"mimi-{name}-{next(_tokens)}"
        self.active = False
        self.cancelled_by_user = False

    async def begin(
        self,
        title: str,
        *,
        message: str | None = None,
        percentage: int | None = None,
        cancel_task: asyncio.Task[Any] | None = None,
    ) -> bool:
        """Start the report; False when the client does not show progress (or refused)."""
        if not self.server.session.client.work_done_progress:
            return False
        progress = self.server.work_done_progress
        try:
            await asyncio.wait_for(progress.create_async(self.token), CREATE_TIMEOUT_S)
        except Exception:
            log.debug("window/workDoneProgress/create refused", exc_info=True)
            return False
        progress.begin(
            self.token,
            types.WorkDoneProgressBegin(
                title=title,
                cancellable=cancel_task is not None,
                message=message,
                percentage=percentage,
            ),
        )
        self.active = True
        future = progress.tokens.get(self.token)
        if cancel_task is not None and future is not None:

            def cancelled(f: Any) -> None:
                if f.cancelled() and not cancel_task.done():
                    self.cancelled_by_user = True
                    cancel_task.cancel()

            future.add_done_callback(cancelled)
        return True

    def report(self, message: str | None = None, percentage: int | None = None) -> None:
        if self.active:
            self.server.work_done_progress.report(
                self.token, types.WorkDoneProgressReport(message=message, percentage=percentage)
            )

    def end(self, message: str = "done") -> None:
        if not self.active:
            return
        self.active = False
        progress = self.server.work_done_progress
        try:
            progress.end(self.token, types.WorkDoneProgressEnd(message=message))
        finally:
            progress.tokens.pop(self.token, None)
