"""Plain data shared by services and backends.

Everything below ``features/`` speaks these dataclasses, never ``lsprotocol`` types, so the
completion engine, the index, the agent and the model backends can be reused by the CLI, the
web bridge and the MCP server without a language server in the loop. Offsets are Python string
indices (code points); ``convert.py`` maps them to and from LSP positions.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Literal

# --------------------------------------------------------------------------------------------
# Documents


@dataclass(frozen=True, slots=True)
class Span:
    """A range in a document as (line, column) pairs, columns in code points, end exclusive."""

    start_line: int
    start_col: int
    end_line: int
    end_col: int


@dataclass(frozen=True, slots=True)
class TextChange:
    """One applied edit: ``old`` starting at (line, col) became ``new`` (code points, in the
    document as it was just before the edit)."""

    line: int
    col: int
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class DocumentSnapshot:
    """An immutable view of one open document at one version."""

    uri: str
    version: int
    language_id: str
    lines: tuple[str, ...]
    """Each line with its own line ending (the last line has none)."""
    eol: str = "\n"
    length: int = -1
    """Total characters when the producer already knows it (-1: count on demand)."""

    @property
    def text(self) -> str:
        return "".join(self.lines)

    @property
    def size(self) -> int:
        if self.length >= 0:
            return self.length
        return sum(map(len, self.lines))

    def line_text(self, line: int) -> str:
        """The line without its line ending ('' past the end)."""
        if line >= len(self.lines):
            return ""
        return self.lines[line].rstrip("\r\n")

    def prefix(self, line: int, col: int, max_chars: int | None = None, step: int = 0) -> str:
        """Text before (line, col), keeping at most ``max_chars`` characters (whole lines).

        With ``step``, a window that cannot hold everything starts at the first line at or
        after a multiple of ``step`` characters into the document (the first such point that
        keeps it within ``max_chars``), not at the line that just fits: its start stays put
        while the user types at the cursor, so a model server reuses the prompt's unchanged
        start, and moves in jumps of about ``step`` characters (the window holds between
        ``max_chars - step`` and ``max_chars``, less a line).
        """
        head = self.lines[line][:col] if line < len(self.lines) else ""
        if step > 0 and max_chars is not None:
            before = sum(map(len, self.lines[:line]))
            floor = before + len(head) - max_chars  # the window may not start before this
            if floor > 0:
                start_at = -(-floor // step) * step
                i, offset = 0, 0
                while i < line and offset < start_at:
                    offset += len(self.lines[i])
                    i += 1
                return "".join(self.lines[i:line]) + head
        parts = [head]
        total = len(head)
        i = line - 1
        while i >= 0 and (max_chars is None or total + len(self.lines[i]) <= max_chars):
            parts.append(self.lines[i])
            total += len(self.lines[i])
            i -= 1
        return "".join(reversed(parts))

    def suffix(self, line: int, col: int, max_chars: int | None = None) -> str:
        """Text after (line, col), keeping at most ``max_chars`` characters (whole lines)."""
        tail = self.lines[line][col:] if line < len(self.lines) else ""
        parts = [tail]
        total = len(tail)
        i = line + 1
        while i < len(self.lines) and (
            max_chars is None or total + len(self.lines[i]) <= max_chars
        ):
            parts.append(self.lines[i])
            total += len(self.lines[i])
            i += 1
        return "".join(parts)


# --------------------------------------------------------------------------------------------
# Completion


class TriggerKind(enum.IntEnum):
    INVOKED = 1
    AUTOMATIC = 2


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """One ghost-text request at a cursor."""

    snapshot: DocumentSnapshot
    line: int
    col: int
    trigger: TriggerKind = TriggerKind.AUTOMATIC
    """An explicit invoke skips the debounce."""
    selected_text: str | None = None
    """Text of the editor's selected completion-menu item, when it shows one."""


@dataclass(frozen=True, slots=True)
class CompletionItem:
    """A ghost-text suggestion.

    ``insert_text`` replaces the span from the cursor to ``replace_end`` (same line) when set:
    that is how a suggestion swallows closing brackets already after the cursor.
    """

    insert_text: str
    line: int
    col: int
    replace_end_col: int | None = None
    from_cache: bool = False


@dataclass(frozen=True, slots=True)
class ContextSnippet:
    """Code placed in a completion prompt: a definition or a similar snippet from elsewhere."""

    path: str
    text: str
    kind: Literal["definition", "similar"] = "similar"


@dataclass(frozen=True, slots=True)
class CompletionResult:
    items: tuple[CompletionItem, ...] = ()
    reason: str = ""
    """Why the list is empty (for logs and status), e.g. 'debounced', 'stale', 'too-large'."""


# --------------------------------------------------------------------------------------------
# Inference


@dataclass(frozen=True, slots=True)
class GenerateRequest:
    """A raw text generation (fill-in-the-middle or plain), streamed by the backend.

    With ``suffix`` set and ``raw`` false the backend uses the server's native FIM (Ollama's
    ``suffix``, OpenAI's ``/v1/completions`` ``suffix``); with ``raw`` true ``prompt`` already
    holds the model's FIM tokens.
    """

    prompt: str
    suffix: str | None = None
    raw: bool = False
    model: str | None = None
    max_tokens: int = 128
    temperature: float = 0.2
    stop: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Literal["system", "user", "assistant", "tool"]
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool offered to the chat model: JSON-schema parameters."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ChatRequest:
    messages: tuple[ChatMessage, ...]
    model: str | None = None
    tools: tuple[ToolSpec, ...] = ()
    max_tokens: int = 1024
    temperature: float = 0.2


@dataclass(frozen=True, slots=True)
class ChatDelta:
    """One streamed piece of a chat answer: text and/or complete tool calls."""

    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    done: bool = False


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What a backend knows about a model; ``native_fim`` means it takes a separate suffix."""

    name: str
    present: bool
    native_fim: bool = False
    suffix_unreliable: bool = False
    """The server takes a suffix but not every such server honours it (OpenAI-compatible ones:
    vLLM rejects it, others drop it): a family whose FIM tokens we know gets those instead."""
    family: str | None = None
    template: str | None = None
    embedding_dim: int | None = None


class HealthState(enum.StrEnum):
    OK = "ok"
    UNAVAILABLE = "unavailable"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class BackendHealth:
    state: HealthState
    message: str = ""
    fix: str = ""
    """What the user should run or change, e.g. 'ollama serve'."""
    notify: bool = False
    """Tell the user with a message (not only the status bar): they can act on it."""


# --------------------------------------------------------------------------------------------
# Search and index (filled in by the index service)


@dataclass(frozen=True, slots=True)
class SearchHit:
    path: str
    """Absolute filesystem path."""
    span: Span
    score: float
    preview: str
    symbol: str | None = None
    kind: str | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class SymbolInfo:
    name: str
    kind: str
    path: str
    span: Span
    container: str | None = None


@dataclass(frozen=True, slots=True)
class IndexStatus:
    state: Literal["idle", "indexing", "ready", "error"]
    files: int = 0
    chunks: int = 0
    embedded: int = 0
    message: str = ""
