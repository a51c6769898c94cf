"""Post-processing of raw model output into ghost text (minimal version)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PostContext:
    """What post-processing knows about the cursor."""

    prefix: str
    suffix: str
    language_id: str
    multiline: bool
    eol: str = "\n"


@dataclass(frozen=True, slots=True)
class Suggestion:
    """Text to insert at the cursor, replacing ``replace`` characters after it on its line."""

    text: str
    replace: int = 0


def postprocess(raw: str, ctx: PostContext) -> Suggestion | None:
    """Turn raw model output into a suggestion (None for nothing worth showing)."""
    text = raw.replace("\r\n", "\n")
    if not ctx.multiline:
        text = text.split("\n", 1)[0]
    text = text.rstrip()
    if not text.strip():
        return None
    if ctx.eol != "\n":
        text = text.replace("\n", ctx.eol)
    return Suggestion(text)


def stop_sequences(language_id: str) -> tuple[str, ...]:
    """Stop sequences for a language: a blank line then a top-level keyword, etc."""
    return ("\n\n\n",)


def decide_multiline(prefix: str, suffix: str, language_id: str, mode: str = "auto") -> bool:
    """Whether a multi-line suggestion fits the syntax at the cursor."""
    if mode != "auto":
        return mode == "always"
    line_after = suffix.split("\n", 1)[0]
    line_before = prefix.rsplit("\n", 1)[-1]
    return not line_after.strip() and not line_before.strip()
