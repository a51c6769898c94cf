"""Chat about the codebase: context, streaming, citations. LSP-free.

``ChatService.ask`` answers one user message given the conversation so far. Context comes as
numbered sources in the last user turn: [1] the selection, then the current file around it,
then the top search hits for the question (the index, or a bounded grep without one). Models
with native tool calling may also look further with the read-only tools (read_file,
list_files, search, find_symbol); everything they read is confined to the workspace.

The answer streams through ``on_delta``; ``citations`` are the sources the answer cites as
``[n]`` (else every selection/search source it was given, plus files the model read), each a
path and a line span. Cancelling the awaiting task stops the model stream.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from mimi_lsp import tracing
from mimi_lsp.agent.prompts import ASK_SYSTEM, location
from mimi_lsp.agent.service import AgentHost, AgentService, excerpt, selection_text
from mimi_lsp.agent.tools import workspace_tools
from mimi_lsp.agent.workspace import Workspace
from mimi_lsp.domain import ChatMessage, DocumentSnapshot, SearchHit, Span
from mimi_lsp.errors import MimiError
from mimi_lsp.uris import uri_to_path

FILE_BUDGET = 6_000
HIT_LINES = 30
MAX_HITS = 5
HISTORY_CHARS = 24_000
"""Older chat turns beyond this are left out of the prompt (the newest always stay)."""
_CITE_RE = re.compile(r"\[(\d{1,2})\]")


@dataclass(frozen=True, slots=True)
class ChatQuery:
    message: str
    history: tuple[ChatMessage, ...] = ()
    uri: str | None = None
    span: Span | None = None


@dataclass(frozen=True, slots=True)
class Source:
    """A piece of the workspace shown to the model (and citable)."""

    n: int
    path: str
    span: Span
    text: str
    kind: str
    """'selection', 'file', 'search' or 'read' (read by a tool during the answer)."""


@dataclass(slots=True)
class ChatAnswer:
    reply: str
    citations: list[Source] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)


class ChatService:
    """Answers questions about the workspace for ``mimi.chat`` (and explain)."""

    def __init__(self, services: AgentHost, agent: AgentService | None = None) -> None:
        self.services = services
        self.agent = agent or AgentService(services)

    async def context(self, query: ChatQuery, workspace: Workspace) -> list[Source]:
        """Numbered sources: selection, current file around it, top search hits."""
        snapshot = self.services.session.snapshot(query.uri) if query.uri else None
        sources, current, covered = await asyncio.to_thread(self._local, query, snapshot, workspace)
        try:
            hits = await workspace.search(query.message, MAX_HITS + 2)
        except MimiError:
            hits = []
        return await asyncio.to_thread(self._add_hits, sources, hits, current, covered, workspace)

    def _local(
        self, query: ChatQuery, snapshot: DocumentSnapshot | None, workspace: Workspace
    ) -> tuple[list[Source], str | None, tuple[int, int] | None]:
        sources: list[Source] = []
        if not query.uri or not query.uri.startswith("file:"):
            return sources, None, None
        current = os.path.realpath(uri_to_path(query.uri))
        if snapshot is None:
            try:
                snapshot = _disk_snapshot(query.uri, workspace.read(current).text)
            except MimiError:
                return sources, current, None
        span = query.span
        if span is not None:
            text = selection_text(snapshot, span)
            if text.strip():
                sources.append(Source(len(sources) + 1, current, span, text, "selection"))
        line = span.start_line if span is not None else 0
        if snapshot.size <= FILE_BUDGET:
            start, end = 0, len(snapshot.lines) - 1
            text = snapshot.text
        else:
            radius = max(10, FILE_BUDGET // 80 // 2)
            start, end = max(0, line - radius), min(len(snapshot.lines) - 1, line + radius)
            text = excerpt(snapshot, line, radius)
        whole = Span(start, 0, end, len(snapshot.line_text(end)))
        sources.append(Source(len(sources) + 1, current, whole, text, "file"))
        return sources, current, (start, end)

    def _add_hits(
        self,
        sources: list[Source],
        hits: list[SearchHit],
        current: str | None,
        covered: tuple[int, int] | None,
        workspace: Workspace,
    ) -> list[Source]:
        taken = 0
        for hit in hits:
            if taken >= MAX_HITS:
                break
            path = os.path.realpath(hit.path)
            if path == current and covered and covered[0] <= hit.span.start_line <= covered[1]:
                continue
            text, span = self._hit_text(workspace, path, hit.span, hit.preview)
            sources.append(Source(len(sources) + 1, path, span, text, "search"))
            taken += 1
        return sources

    def _hit_text(
        self, workspace: Workspace, path: str, span: Span, preview: str
    ) -> tuple[str, Span]:
        """A few more lines around a hit than its preview, when the file is readable."""
        try:
            lines = workspace.read(path).text.splitlines()
        except MimiError:
            return preview, span
        if span.end_line - span.start_line + 1 >= HIT_LINES or not lines:
            end = min(span.end_line, len(lines) - 1, span.start_line + HIT_LINES - 1)
            start = span.start_line
        else:
            pad = (HIT_LINES - (span.end_line - span.start_line + 1)) // 2
            start = max(0, span.start_line - pad // 2)
            end = min(len(lines) - 1, span.end_line + pad)
        end = max(start, end)
        return "\n".join(lines[start : end + 1]), Span(
            start, 0, end, len(lines[end]) if end < len(lines) else 0
        )

    async def ask(
        self, query: ChatQuery, on_delta: Callable[[str], None] | None = None
    ) -> ChatAnswer:
        """Answer ``query``, streaming text through ``on_delta``."""
        with tracing.span("chat", history_turns=len(query.history)) as span:
            answer = await self._ask(query, on_delta)
            span.set(
                sources=len(answer.sources),
                citations=len(answer.citations),
                reply_chars=len(answer.reply),
            )
            return answer

    async def _ask(
        self, query: ChatQuery, on_delta: Callable[[str], None] | None = None
    ) -> ChatAnswer:
        workspace = self.agent.workspace(query.uri)
        sources = await self.context(query, workspace)
        blocks = []
        for s in sources:
            label = {
                "selection": "selected code",
                "file": "current file",
                "search": "search result",
            }[s.kind]
            where = location(workspace.relative(s.path), s.span)
            blocks.append(f"[{s.n}] {label} {where}\n<context>\n{s.text.rstrip()}\n</context>")
        prompt = query.message.strip()
        if blocks:
            prompt = "Context:\n\n" + "\n\n".join(blocks) + f"\n\nQuestion: {prompt}"
        messages = [*_recent(query.history), ChatMessage("user", prompt)]
        tools = workspace_tools(workspace, None)
        try:
            outcome = await self.agent.loop().run(
                ASK_SYSTEM, messages, tools, on_text=on_delta, text_tools=False
            )
        except Exception as exc:
            self.agent.on_health(exc)
            raise
        self.agent.on_health(None)
        reply = outcome.reply
        if outcome.stopped and not reply:
            reply = f"(stopped: {outcome.stopped.replace('_', ' ')})"
        read = [
            Source(len(sources) + i + 1, path, Span(first, 0, last + 1, 0), "", "read")
            for i, (path, first, last) in enumerate(_unique(outcome.sources))
        ]
        return ChatAnswer(reply, _citations(reply, sources, read), sources + read)


def _recent(history: tuple[ChatMessage, ...], budget: int = HISTORY_CHARS) -> list[ChatMessage]:
    """The latest turns of the conversation that fit ``budget`` characters (whole turns)."""
    kept: list[ChatMessage] = []
    used = 0
    for message in reversed(history):
        used += len(message.content)
        if used > budget and kept:
            break
        kept.append(message)
    return list(reversed(kept))


def _unique(items: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    seen: set[tuple[str, int, int]] = set()
    out = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def _citations(reply: str, sources: list[Source], read: list[Source]) -> list[Source]:
    by_n = {s.n: s for s in sources}
    cited: list[Source] = []
    for m in _CITE_RE.finditer(reply):
        source = by_n.get(int(m.group(1)))
        if source is not None and source not in cited:
            cited.append(source)
    if cited:
        return cited + read
    return [s for s in sources if s.kind in ("selection", "search")] + read


def _disk_snapshot(uri: str, text: str) -> DocumentSnapshot:
    from mimi_lsp.session import detect_eol, split_lines

    lines = split_lines(text)
    return DocumentSnapshot(
        uri=uri, version=0, language_id="", lines=tuple(lines), eol=detect_eol(lines)
    )
