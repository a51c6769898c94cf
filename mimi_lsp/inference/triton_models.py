"""What the Triton backend reads from a model repository and writes for chat models.

``ModelSpec`` is one model's inputs, outputs and options from Triton's metadata and config;
``render_chat`` turns chat messages (and tools) into a prompt with the model's chat template, and
``parse_tool_calls`` reads Hermes-style ``<tool_call>`` blocks back out of the generated text.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mimi_lsp.domain import ChatMessage, ToolCall


@dataclass(frozen=True)
class ModelSpec:
    """What Triton says about one model, reduced to what we need to call it."""

    name: str
    inputs: dict[str, tuple[str, list[int]]]
    outputs: dict[str, tuple[str, list[int]]]
    max_batch_size: int
    decoupled: bool
    priority_levels: int

    @property
    def batched(self) -> bool:
        return self.max_batch_size > 0

    def input_of(self, datatype: str) -> str | None:
        return next((n for n, (dt, _) in self.inputs.items() if dt == datatype), None)

    def output_of(self, datatype: str) -> str | None:
        return next((n for n, (dt, _) in self.outputs.items() if dt == datatype), None)


def _shape(raw: Any) -> list[int]:
    return [int(d) for d in raw]


def _spec_from(name: str, metadata: dict[str, Any], config: dict[str, Any]) -> ModelSpec:
    config = config.get("config", config)
    batching = config.get("dynamic_batching") or {}
    return ModelSpec(
        name=name,
        inputs={i["name"]: (i["datatype"], _shape(i["shape"])) for i in metadata.get("inputs", [])},
        outputs={
            o["name"]: (o["datatype"], _shape(o["shape"])) for o in metadata.get("outputs", [])
        },
        max_batch_size=int(config.get("max_batch_size", 0) or 0),
        decoupled=bool((config.get("model_transaction_policy") or {}).get("decoupled", False)),
        priority_levels=int(batching.get("priority_levels", 0) or 0),
    )


# --------------------------------------------------------------------------------------------
# Chat prompts


def render_chat(messages: Sequence[ChatMessage], template: str, tools: Sequence[Any] = ()) -> str:
    """Messages as one prompt in the model's chat format, ending where the assistant speaks."""
    msgs = list(messages)
    if tools:
        listing = "\n".join(
            json.dumps(
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.parameters,
                    },
                }
            )
            for t in tools
        )
        note = (
            "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
            f"<tools>\n{listing}\n</tools>\n\nFor each function call, return a json object with "
            "function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
            '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
        )
        if msgs and msgs[0].role == "system":
            msgs[0] = ChatMessage("system", f"{msgs[0].content}\n\n{note}")
        else:
            msgs.insert(0, ChatMessage("system", note))

    def body(m: ChatMessage) -> str:
        text = m.content
        for call in m.tool_calls:
            text += (
                "\n<tool_call>\n"
                + json.dumps({"name": call.name, "arguments": call.arguments})
                + "\n</tool_call>"
            )
        if m.role == "tool":
            return f"<tool_response>\n{text}\n</tool_response>"
        return text

    if template == "llama3":
        parts = ["<|begin_of_text|>"]
        for m in msgs:
            role = "ipython" if m.role == "tool" else m.role
            parts.append(f"<|start_header_id|>{role}<|end_header_id|>\n\n{body(m)}<|eot_id|>")
        parts.append("<|start_header_id|>assistant<|end_header_id|>\n\n")
        return "".join(parts)
    if template == "plain":
        lines = [f"{m.role.capitalize()}: {body(m)}" for m in msgs]
        return "\n\n".join(lines) + "\n\nAssistant:"
    parts = []
    for m in msgs:
        role = "user" if m.role == "tool" else m.role
        parts.append(f"<|im_start|>{role}\n{body(m)}<|im_end|>\n")
    parts.append("<|im_start|>assistant\n")
    return "".join(parts)


CHAT_STOPS = {
    "chatml": ("<|im_end|>", "<|endoftext|>"),
    "llama3": ("<|eot_id|>", "<|end_of_text|>"),
    "plain": ("\nUser:",),
}
TOOL_CALL = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.S)


def parse_tool_calls(text: str) -> tuple[str, tuple[ToolCall, ...]]:
    """Split Hermes-style ``<tool_call>`` blocks out of a finished answer."""
    calls = []
    for match in TOOL_CALL.finditer(text):
        try:
            data = json.loads(match.group(1))
        except json.JSONDecodeError:
            continue
        args = data.get("arguments", {})
        if isinstance(args, str):
            with contextlib.suppress(json.JSONDecodeError):
                args = json.loads(args)
        calls.append(ToolCall(f"call_{uuid.uuid4().hex[:8]}", str(data.get("name", "")), args))
    return TOOL_CALL.sub("", text).strip() if calls else text, tuple(calls)
