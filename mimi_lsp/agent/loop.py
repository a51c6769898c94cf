"""The agent loop: model turn → tool calls → results → next turn, within limits.

One ``AgentLoop.run`` drives a conversation through the chat backend. With native tool
calling the tool specs go in the request and the backend returns complete ``ToolCall``s; a
model that cannot take tools (Ollama answers 400 "does not support tools") is switched to the
structured-text protocol of ``textproto`` for the rest of the process, and text-written tool
calls are honoured in native mode too.

Limits come from ``settings.agent``: tool calls per run (``maxSteps``), wall time
(``timeoutMs``) and an approximate token budget (``maxTokens``: prompts and answers, four
characters a token). Hitting one ends the run with ``stopped`` set, keeping the plan so far
(the user reviews it anyway). Cancelling the task that awaits ``run`` stops it at once and
closes the model stream.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from mimi_lsp import tracing
from mimi_lsp.agent.textproto import describe_tools, parse_tool_calls, strip_tool_text
from mimi_lsp.agent.tools import Toolbox, ToolResult
from mimi_lsp.domain import ChatMessage, ChatRequest, ToolCall
from mimi_lsp.errors import BackendError
from mimi_lsp.inference.base import Backend

log = logging.getLogger(__name__)

ToolMode = Literal["auto", "native", "text"]
_NO_NATIVE_TOOLS: set[str] = set()
"""Models (by backend kind + name) that refused native tools in this process."""


@dataclass(frozen=True, slots=True)
class AgentLimits:
    max_steps: int = 12
    timeout_s: float = 120.0
    max_tokens: int = 100_000
    context_chars: int = 60_000
    """Older tool results are elided once the conversation grows past this."""


@dataclass(frozen=True, slots=True)
class AgentStep:
    """One tool call as reported to the user ($/progress, the command result)."""

    index: int
    tool: str
    summary: str
    ok: bool


@dataclass(slots=True)
class LoopOutcome:
    reply: str = ""
    steps: list[AgentStep] = field(default_factory=list)
    stopped: str | None = None
    """Why the run ended early: 'max_steps', 'max_tokens', 'timeout' (None: finished)."""
    tokens: int = 0
    sources: list[tuple[str, int, int]] = field(default_factory=list)
    turns: int = 0


def _estimate(messages: list[ChatMessage]) -> int:
    chars = 0
    for m in messages:
        chars += len(m.content) + 8
        for call in m.tool_calls:
            chars += len(call.name) + len(json.dumps(call.arguments))
    return chars // 4


def _no_tools_error(exc: Exception) -> bool:
    # Ollama: "… does not support tools"; vLLM: "auto tool choice requires
    # --enable-auto-tool-choice …"; llama.cpp server: "tools param requires --jinja flag".
    text = str(getattr(exc, "message", exc)).lower()
    hints = ("support", "not allowed", "unknown", "requires", "enable", "jinja")
    return "tool" in text and any(h in text for h in hints)


class AgentLoop:
    """Runs one conversation with tools against a chat backend."""

    def __init__(
        self,
        backend: Backend,
        *,
        model: str | None,
        limits: AgentLimits = AgentLimits(),
        tool_mode: ToolMode = "auto",
        max_tokens: int = 2048,
        temperature: float = 0.2,
    ) -> None:
        self.backend = backend
        self.model = model
        self.limits = limits
        self.tool_mode = tool_mode
        self.max_tokens = max_tokens
        self.temperature = temperature

    @property
    def _model_key(self) -> str:
        return f"{getattr(self.backend, 'name', '?')}:{self.model}"

    def _native(self) -> bool:
        if self.tool_mode == "text":
            return False
        if self.tool_mode == "native":
            return True
        return self._model_key not in _NO_NATIVE_TOOLS

    async def run(
        self,
        system: str,
        messages: list[ChatMessage],
        tools: Toolbox,
        *,
        on_step: Callable[[AgentStep], None] | None = None,
        on_text: Callable[[str], None] | None = None,
        on_turn: Callable[[int], None] | None = None,
        text_tools: bool = True,
    ) -> LoopOutcome:
        """Run until the model answers without tool calls or a limit is hit.

        With ``text_tools`` false, a model without native tool calling gets no tools at all
        (chat streams its answer to the user, where tool-call text would be noise).
        """
        outcome = LoopOutcome()
        with tracing.span("agent.run", model=self.model, tools=len(tools.tools)) as span:
            try:
                async with asyncio.timeout(self.limits.timeout_s):
                    await self._run(
                        system,
                        list(messages),
                        tools,
                        outcome,
                        on_step,
                        on_text,
                        on_turn,
                        text_tools,
                    )
            except TimeoutError:
                outcome.stopped = "timeout"
            span.set(
                turns=outcome.turns,
                steps=len(outcome.steps),
                tokens_estimate=outcome.tokens,
                stopped=outcome.stopped or "done",
            )
        return outcome

    async def _run(
        self,
        system: str,
        history: list[ChatMessage],
        tools: Toolbox,
        outcome: LoopOutcome,
        on_step: Callable[[AgentStep], None] | None,
        on_text: Callable[[str], None] | None,
        on_turn: Callable[[int], None] | None,
        text_tools: bool = True,
    ) -> None:
        all_tools = tools
        while True:
            native = self._native()
            tools = all_tools if (native or text_tools) else Toolbox()
            known = set(tools.tools)
            sys_text = (
                system
                if (native or not tools.tools)
                else f"{system}\n\n{describe_tools(tools.specs)}"
            )
            messages = [ChatMessage("system", sys_text), *history]
            self._elide(history)
            prompt_tokens = _estimate(messages)
            if outcome.tokens + prompt_tokens > self.limits.max_tokens:
                outcome.stopped = "max_tokens"
                return
            outcome.turns += 1
            if on_turn is not None:
                on_turn(outcome.turns)
            request = ChatRequest(
                messages=tuple(messages),
                model=self.model,
                tools=tools.specs if native else (),
                max_tokens=self.max_tokens,
                temperature=self.temperature,
            )
            try:
                with tracing.span(
                    "agent.step",
                    turn=outcome.turns,
                    model=self.model,
                    native_tools=native,
                    prompt_tokens_estimate=prompt_tokens,
                ) as span:
                    content, calls = await self._turn(request, on_text)
                    span.set(tool_calls=len(calls), output_chars=len(content))
            except BackendError as exc:
                if native and self.tool_mode == "auto" and tools.tools and _no_tools_error(exc):
                    log.info("model %s has no native tools: using the text protocol", self.model)
                    _NO_NATIVE_TOOLS.add(self._model_key)
                    continue
                raise
            outcome.tokens += prompt_tokens + len(content) // 4
            text_calls = not calls
            if text_calls and tools.tools:
                calls = parse_tool_calls(content, known)
            if not calls:
                outcome.reply = content.strip()
                return
            history.append(
                ChatMessage("assistant", content, tool_calls=() if text_calls else tuple(calls))
            )
            results: list[tuple[ToolCall, ToolResult]] = []
            for call in calls:
                if len(outcome.steps) >= self.limits.max_steps:
                    outcome.stopped = "max_steps"
                    outcome.reply = strip_tool_text(content)
                    return
                with tracing.span(
                    "agent.tool", tool=call.name, step=len(outcome.steps) + 1
                ) as span:
                    result = await tools.call(call)
                    span.set(ok=result.ok)
                step = AgentStep(
                    len(outcome.steps) + 1, call.name, result.summary or call.name, result.ok
                )
                outcome.steps.append(step)
                outcome.sources.extend(result.sources)
                results.append((call, result))
                if on_step is not None:
                    on_step(step)
            if native and not text_calls:
                for call, result in results:
                    history.append(
                        ChatMessage("tool", result.content, tool_call_id=call.id, name=call.name)
                    )
            else:
                body = "\n\n".join(
                    f'<tool_result name="{call.name}">\n{result.content}\n</tool_result>'
                    for call, result in results
                )
                history.append(ChatMessage("user", f"Tool results:\n{body}"))
                # A text reply that only wrote edits, all of which applied, is a final answer.
                if all(c.name in ("edit", "create_file") and r.ok for c, r in results):
                    outcome.reply = strip_tool_text(content)
                    return

    async def _turn(
        self, request: ChatRequest, on_text: Callable[[str], None] | None
    ) -> tuple[str, list[ToolCall]]:
        """One model answer: streamed text (forwarded to ``on_text``) and its tool calls."""
        pieces: list[str] = []
        calls: list[ToolCall] = []
        stream = self.backend.chat(request)
        try:
            async for delta in stream:
                if delta.content:
                    pieces.append(delta.content)
                    if on_text is not None:
                        on_text(delta.content)
                calls.extend(delta.tool_calls)
                if delta.done:
                    break
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
        # Unique ids: some servers (Ollama) send none, and tool results refer to them.
        seen: set[str] = set()
        fixed = []
        for n, call in enumerate(calls):
            cid = call.id or f"call_{n}"
            if cid in seen:
                cid = f"{cid}_{n}"
            seen.add(cid)
            fixed.append(call if cid == call.id else ToolCall(cid, call.name, call.arguments))
        return "".join(pieces), fixed

    def _elide(self, history: list[ChatMessage]) -> None:
        """Shorten the oldest tool results once the conversation outgrows the context budget."""
        total = sum(len(m.content) for m in history)
        for i, message in enumerate(history[:-2]):
            if total <= self.limits.context_chars:
                return
            is_result = message.role == "tool" or message.content.startswith("Tool results:")
            if is_result and len(message.content) > 200:
                total -= len(message.content) - 60
                history[i] = ChatMessage(
                    message.role,
                    "[old tool result elided to save space; call the tool again if needed]",
                    tool_calls=message.tool_calls,
                    tool_call_id=message.tool_call_id,
                    name=message.name,
                )
