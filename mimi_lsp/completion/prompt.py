"""FIM prompts: one template per model family, chosen from the model name, overridable.

The completion engine asks ``select_template`` for the family's tokens and ``build_prompt`` for
what goes to the backend. Two shapes come out: *native* FIM (the model server knows the tokens:
Ollama's ``suffix`` when ``/api/show`` says the template takes one; the prompt is the prefix with
any context snippets as comments) or *raw* (we spell the family's tokens ourselves and the server
must not wrap the prompt). Context snippets go where each family was trained to read them:
Qwen2.5/3-Coder and StarCoder2 as repository-level files behind their file separators, with
paths; every other family as comments on top of the prefix. The per-family stop tokens come back
with the prompt so the engine stops the stream on them.
"""

from __future__ import annotations

import logging
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import regex

from mimi_lsp.domain import ContextSnippet
from mimi_lsp.uris import uri_to_path

log = logging.getLogger(__name__)

ContextStyle = Literal["comment", "qwen", "starcoder2"]


@dataclass(frozen=True, slots=True)
class FimTemplate:
    """How one model family spells fill-in-the-middle."""

    name: str
    prefix: str
    suffix: str
    middle: str
    stop: tuple[str, ...] = ()
    suffix_first: bool = False
    """SPM order (suffix before prefix), e.g. Codestral."""
    file_sep: str | None = None
    """Repo-level separator for context files (Qwen's <|file_sep|>, StarCoder2's <file_sep>)."""
    repo_name: str | None = None
    """Repo-level header token (Qwen's <|repo_name|>, StarCoder2's <repo_name>)."""
    context_style: ContextStyle = "comment"
    """How context snippets are laid out in raw mode."""
    pieces: regex.Pattern[str] | None = None
    """The family's pre-tokenizer, when its PSM prompts open the middle with the cursor's line
    (see ``render``): a model server's KV cache then holds the whole prompt but the keys typed
    since the last request. None: the prefix ends at the cursor."""
    description: str = ""

    def render(self, prefix: str, suffix: str) -> tuple[str, str]:
        """The bare FIM prompt for ``prefix``/``suffix`` (no context), and the text before the
        cursor that the prompt leaves for the answer to begin with.

        In PSM order the suffix follows the prefix, so a key typed at the cursor changes the
        prompt before the whole suffix and a model server evaluates all of it again (its KV cache
        holds only the common start: ~240 tokens, ~2 s on 2 CPU cores). With ``pieces`` the
        prefix ends at a line start that moves in steps (``middle_start``) and the lines after
        it, the cursor's among them, open the middle as if the model had written them (as
        llama.vscode does with the cursor's line), so typing changes only the prompt's end.
        The middle stops before the line's last pre-tokenizer piece: a model reads its middle
        in its own tokens, and a word cut short there (``        i`` of ``if``, the space of
        ``return ``) reads as a whole token and misleads it (HumanEval random-span pass@1
        56/164 with the whole line, against 70 for plain PSM). The answer must begin with that
        piece; the engine cuts it off again.
        """
        if self.suffix_first:
            return f"{self.suffix}{suffix}{self.prefix}{prefix}{self.middle}", ""
        head = self.head(prefix)
        if head is None or self.pieces is None:
            return f"{self.prefix}{prefix}{self.suffix}{suffix}{self.middle}", ""
        typed = prefix[len(head) :]
        start = last_piece(typed, self.pieces)
        kept = typed[: len(typed) - len(start)]
        return f"{self.prefix}{head}{self.suffix}{suffix}{self.middle}{kept}", start

    def head(self, prefix: str) -> str | None:
        """The part of ``prefix`` in the prompt's head, which typing at the cursor leaves alone
        for a step (see ``render``); None when the prompt ends at the cursor."""
        if self.suffix_first or self.pieces is None:
            return None
        return prefix[: middle_start(prefix)]


MIDDLE_STEP = 768
"""The middle a PSM prompt opens with starts at a line start that moves in steps of this many
characters of the prefix, so that Enter does not move the prompt's head either (the lines typed
since the step open the middle)."""


def middle_start(prefix: str) -> int:
    """Where the middle's pre-filled start begins in ``prefix``: the start of the line holding
    the last multiple of ``MIDDLE_STEP`` (stable while the user types, as the prefix window's own
    start is); in a prefix shorter than a step, the cursor's line."""
    anchor = len(prefix) // MIDDLE_STEP * MIDDLE_STEP
    return prefix.rfind("\n", 0, anchor or len(prefix)) + 1


def last_piece(text: str, pieces: regex.Pattern[str]) -> str:
    """The last piece ``pieces`` cuts ``text`` into ('' for no text): where the model's own
    tokens of ``text`` followed by more may differ from those of ``text`` alone."""
    found = pieces.findall(text)
    return found[-1] if found else ""


QWEN_PIECES = regex.compile(
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
"""Qwen2's pre-tokenizer (its tokenizer.json): BPE merges never cross these pieces."""


# --------------------------------------------------------------------------------------------
# The table. Stop lists hold every control token the family may emit after the middle.

QWEN = FimTemplate(
    "qwen",
    "<|fim_prefix|>",
    "<|fim_suffix|>",
    "<|fim_middle|>",
    stop=(
        "<|endoftext|>",
        "<|fim_prefix|>",
        "<|fim_suffix|>",
        "<|fim_middle|>",
        "<|fim_pad|>",
        "<|repo_name|>",
        "<|file_sep|>",
        "<|im_start|>",
        "<|im_end|>",
    ),
    file_sep="<|file_sep|>",
    repo_name="<|repo_name|>",
    context_style="qwen",
    pieces=QWEN_PIECES,
    description="Qwen2.5-Coder / Qwen3-Coder",
)

STARCODER = FimTemplate(
    "starcoder",
    "<fim_prefix>",
    "<fim_suffix>",
    "<fim_middle>",
    stop=(
        "<|endoftext|>",
        "<fim_prefix>",
        "<fim_suffix>",
        "<fim_middle>",
        "<fim_pad>",
        "<file_sep>",
        "<repo_name>",
    ),
    file_sep="<file_sep>",
    repo_name="<repo_name>",
    context_style="starcoder2",
    description="StarCoder2",
)

STARCODER1 = FimTemplate(
    "starcoder1",
    "<fim_prefix>",
    "<fim_suffix>",
    "<fim_middle>",
    stop=(
        "<|endoftext|>",
        "<fim_prefix>",
        "<fim_suffix>",
        "<fim_middle>",
        "<fim_pad>",
        "<file_sep>",
    ),
    description="StarCoder 1, SantaCoder, StableCode, CodeQwen1.5 (no repo-level tokens)",
)

CODELLAMA = FimTemplate(
    "codellama",
    "<PRE> ",
    " <SUF>",
    " <MID>",
    stop=("<EOT>", "<PRE>", "<SUF>", "<MID>", "</s>"),
    description="Code Llama",
)

DEEPSEEK = FimTemplate(
    "deepseek",
    "<｜fim▁begin｜>",  # full-width bars and U+2581, as DeepSeek spells them
    "<｜fim▁hole｜>",
    "<｜fim▁end｜>",
    stop=(
        "<｜end▁of▁sentence｜>",
        "<｜fim▁begin｜>",
        "<｜fim▁hole｜>",
        "<｜fim▁end｜>",
        "<|EOT|>",
    ),
    description="DeepSeek-Coder (v1 and v2)",
)

CODESTRAL = FimTemplate(
    "codestral",
    "[PREFIX]",
    "[SUFFIX]",
    "",
    stop=("[PREFIX]", "[SUFFIX]", "[MIDDLE]", "</s>"),
    suffix_first=True,
    description="Codestral (suffix first)",
)

CODEGEMMA = FimTemplate(
    "codegemma",
    "<|fim_prefix|>",
    "<|fim_suffix|>",
    "<|fim_middle|>",
    stop=(
        "<|file_separator|>",
        "<|fim_prefix|>",
        "<|fim_suffix|>",
        "<|fim_middle|>",
        "<end_of_turn>",
        "<eos>",
    ),
    description="CodeGemma",
)

GRANITE = FimTemplate(
    "granite",
    "<fim_prefix>",
    "<fim_suffix>",
    "<fim_middle>",
    stop=(
        "<|endoftext|>",
        "<fim_prefix>",
        "<fim_suffix>",
        "<fim_middle>",
        "<fim_pad>",
        "<filename>",
    ),
    description="IBM Granite Code",
)

TEMPLATES: dict[str, FimTemplate] = {
    t.name: t
    for t in (QWEN, STARCODER, STARCODER1, CODELLAMA, DEEPSEEK, CODESTRAL, CODEGEMMA, GRANITE)
}

ALIASES: dict[str, str] = {
    "qwen2.5-coder": "qwen",
    "qwen3-coder": "qwen",
    "qwen-coder": "qwen",
    "starcoder2": "starcoder",
    "stable-code": "starcoder1",
    "stablecode": "starcoder1",
    "santacoder": "starcoder1",
    "codeqwen": "starcoder1",
    "code-llama": "codellama",
    "llama": "codellama",
    "deepseek-coder": "deepseek",
    "mistral": "codestral",
    "gemma": "codegemma",
    "granite-code": "granite",
}

# Model name (lower-cased, Ollama tag or Hugging Face id) -> family; first match wins, so the
# more specific names come first (codeqwen before qwen-coder, starcoder2 before starcoder).
_NAME_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), name)
    for pattern, name in (
        (r"codeqwen", "starcoder1"),
        (r"qwen[\d.]*[-_]?coder", "qwen"),
        (r"star-?coder-?2", "starcoder"),
        (r"star-?coder|santacoder|stable-?code", "starcoder1"),
        (r"code-?llama", "codellama"),
        (r"deepseek-?coder", "deepseek"),
        (r"codestral", "codestral"),
        (r"codegemma", "codegemma"),
        (r"granite[^/]*code", "granite"),
    )
)

_warned_overrides: set[str] = set()


def template_for_model(model: str) -> FimTemplate | None:
    """The family template the model name points at, or None."""
    lowered = model.lower()
    for pattern, name in _NAME_RULES:
        if pattern.search(lowered):
            return TEMPLATES[name]
    return None


def custom_template(spec: str, model: str = "") -> FimTemplate | None:
    """A template written inline, e.g. ``<PRE>{prefix}<SUF>{suffix}<MID>``; None if malformed.

    Written with a known family's own tokens (Qwen's in suffix-first order, say), it keeps that
    family's stop tokens and repository-level context layout; ``model`` settles families that
    share tokens (Qwen and CodeGemma).
    """
    if spec.count("{prefix}") != 1 or spec.count("{suffix}") != 1:
        return None
    if spec.index("{prefix}") < spec.index("{suffix}"):
        head, mid_and_tail = spec.split("{prefix}")
        between, tail = mid_and_tail.split("{suffix}")
        prefix, suffix, middle, suffix_first = head, between, tail, False
    else:
        head, mid_and_tail = spec.split("{suffix}")
        between, tail = mid_and_tail.split("{prefix}")
        prefix, suffix, middle, suffix_first = between, head, tail, True
    tokens = (prefix.strip(), suffix.strip(), middle.strip())
    named = template_for_model(model)
    family = next(
        (
            t
            for t in (named, *TEMPLATES.values())
            if t is not None and (t.prefix.strip(), t.suffix.strip(), t.middle.strip()) == tokens
        ),
        None,
    )
    if family is None:
        return FimTemplate(
            "custom",
            prefix,
            suffix,
            middle,
            suffix_first=suffix_first,
            description="from fimTemplate",
        )
    return replace(
        family,
        name="custom",
        prefix=prefix,
        suffix=suffix,
        middle=middle,
        suffix_first=suffix_first,
        pieces=None,  # written out: used as written
        description=f"from fimTemplate ({family.name}'s tokens)",
    )


def select_template(model: str, override: str = "auto") -> FimTemplate | None:
    """The template for ``model`` (or the named override); None when we know of none.

    ``override`` is ``"auto"``, a family name or alias (``qwen``, ``starcoder``, ``codellama``,
    ``deepseek``, ``codestral``, ``codegemma``, ``granite``, ...), or an inline template with
    ``{prefix}`` and ``{suffix}`` placeholders. An unknown name is logged once and gives None.
    """
    spec = (override or "auto").strip()
    if spec.lower() == "auto":
        return template_for_model(model)
    if "{prefix}" in spec:
        template = custom_template(spec, model)
    else:
        key = spec.lower()
        template = TEMPLATES.get(ALIASES.get(key, key))
    if template is None and spec not in _warned_overrides:
        _warned_overrides.add(spec)
        log.warning(
            "unknown fimTemplate %r; known: %s, or an inline template with {prefix} and {suffix}",
            spec,
            ", ".join(TEMPLATES),
        )
    return template


# --------------------------------------------------------------------------------------------
# Prompt assembly


@dataclass(frozen=True, slots=True)
class PromptParts:
    """What goes to the backend: either native FIM (prompt + suffix) or a raw prompt."""

    prompt: str
    suffix: str | None
    raw: bool
    stop: tuple[str, ...]
    answer_start: str = ""
    """Text just before the cursor that the prompt leaves out (``FimTemplate.render``): the
    model's answer must begin with it, and the engine cuts it off the answer."""


_HASH = ("# ", "")
_SLASH = ("// ", "")
_DASH = ("-- ", "")
_COMMENTS: dict[str, tuple[str, str]] = {
    **dict.fromkeys(
        (
            "py pyi rb sh bash zsh fish yaml yml toml r pl ps1 jl ex exs nim cmake dockerfile "
            "makefile mk conf ini tf"
        ).split(),
        _HASH,
    ),
    **dict.fromkeys(
        (
            "js jsx mjs cjs ts tsx mts cts go rs c h cc cpp cxx hpp hh java kt kts scala swift cs "
            "dart php zig v sv proto groovy gradle sol fs jsonc"
        ).split(),
        _SLASH,
    ),
    **dict.fromkeys("lua sql hs elm ada adb vhd vhdl".split(), _DASH),
    **dict.fromkeys("lisp el clj cljs scm rkt asm s".split(), ("; ", "")),
    **dict.fromkeys("css scss less".split(), ("/* ", " */")),
    **dict.fromkeys("html htm xml svg vue svelte md markdown".split(), ("<!-- ", " -->")),
    **dict.fromkeys("tex sty erl hrl m".split(), ("% ", "")),
    "vim": ('" ', ""),
}


def comment_markers(path: str) -> tuple[str, str]:
    """Line-comment opener and closer for the file's language (by extension)."""
    base = posixpath.basename(path.replace("\\", "/")).lower()
    ext = base.rsplit(".", 1)[-1] if "." in base else base
    return _COMMENTS.get(ext, _HASH)


def _fs_path(path: str) -> str:
    path = uri_to_path(path) if path.startswith("file:") else path
    return path.replace("\\", "/")


def display_paths(current: str, others: Sequence[str], root: str | None = None) -> list[str]:
    """Short, repo-relative paths for ``others`` then ``current`` (as a model would see them)."""
    paths = [_fs_path(p) for p in (*others, current)]
    base: str | None = None
    if root:
        base = _fs_path(root).rstrip("/")
    elif len(paths) > 1 and all(p.startswith("/") for p in paths if p):
        try:
            base = posixpath.commonpath([posixpath.dirname(p) for p in paths if p])
        except ValueError:
            base = None
    out = []
    for p in paths:
        if base and p.startswith(base.rstrip("/") + "/"):
            out.append(p[len(base.rstrip("/")) + 1 :])
        else:
            out.append(posixpath.basename(p) or p)
    return out


def _fit(context: Sequence[ContextSnippet], budget: int) -> list[ContextSnippet]:
    """Snippets in order while they fit ``budget`` characters (one cut to whole lines)."""
    kept: list[ContextSnippet] = []
    used = 0
    for snippet in context:
        text = snippet.text.strip("\n")
        if not text.strip():
            continue
        room = budget - used
        if room <= 0:
            break
        if len(text) > room:
            head = text[: room + 1]
            if "\n" not in head or not (cut := head.rsplit("\n", 1)[0]).strip():
                break  # not even one whole line fits
            text = cut
        kept.append(ContextSnippet(snippet.path, text, snippet.kind))
        used += len(text)
    return kept


def _as_comments(snippets: Sequence[ContextSnippet], paths: Sequence[str], current: str) -> str:
    """Snippets as comments in the current file's language, one 'Path:' header each."""
    opener, closer = comment_markers(current)
    blocks = []
    for snippet, path in zip(snippets, paths, strict=False):
        lines = [f"{opener}Path: {path}{closer}"]
        lines += [f"{opener}{line}{closer}".rstrip() for line in snippet.text.split("\n")]
        blocks.append("\n".join(lines) + "\n")
    return "".join(blocks)


def _repo_name(current: str, others: Sequence[str], root: str | None) -> str:
    if root:
        return posixpath.basename(_fs_path(root).rstrip("/")) or "repo"
    paths = [_fs_path(p) for p in (*others, current)]
    try:
        common = posixpath.commonpath([posixpath.dirname(p) for p in paths if p.startswith("/")])
    except ValueError:
        common = ""
    return posixpath.basename(common) or "repo"


def build_prompt(
    *,
    template: FimTemplate | None,
    native_fim: bool,
    prefix: str,
    suffix: str,
    path: str = "",
    context: Sequence[ContextSnippet] = (),
    root: str | None = None,
    max_context_chars: int = 4_000,
) -> PromptParts:
    """Assemble the prompt for one completion.

    ``path`` is the document's URI or path; ``root`` (optional) the workspace folder, otherwise
    paths are shown relative to the deepest folder shared by the document and the snippets.
    """
    snippets = _fit(context, max_context_chars)
    names = display_paths(path, [s.path for s in snippets], root) if snippets else []
    stop = template.stop if template else ()

    if native_fim or template is None:
        head = _as_comments(snippets, names, path) if snippets else ""
        return PromptParts(head + prefix, suffix, False, stop)

    if not snippets:
        prompt, start = template.render(prefix, suffix)
        return PromptParts(prompt, None, True, stop, start)

    if template.context_style in ("qwen", "starcoder2"):
        current = names[-1]
        newline = "\n" if template.context_style == "qwen" else ""
        repo = _repo_name(path, [s.path for s in snippets], root)
        parts = [f"{template.repo_name}{repo}{newline}"]
        for snippet, name in zip(snippets, names, strict=False):
            parts.append(f"{template.file_sep}{name}\n{snippet.text}\n")
        prompt, start = template.render(prefix, suffix)
        parts.append(f"{template.file_sep}{current}\n{prompt}")
        return PromptParts("".join(parts), None, True, stop, start)
    head = _as_comments(snippets, names, path)
    prompt, start = template.render(head + prefix, suffix)
    return PromptParts(prompt, None, True, stop, start)


def describe_templates() -> dict[str, str]:
    """Family name -> what it covers (for docs, ``mimi-lsp doctor`` and error messages)."""
    return {name: t.description for name, t in TEMPLATES.items()}


__all__ = [
    "ALIASES",
    "TEMPLATES",
    "FimTemplate",
    "PromptParts",
    "build_prompt",
    "comment_markers",
    "custom_template",
    "describe_templates",
    "display_paths",
    "select_template",
    "template_for_model",
]
