"""FIM prompts: templates per model family, chosen automatically from the model name.

(Minimal version; the full template table lives here too.)
"""

from __future__ import annotations

from dataclasses import dataclass


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
    """Repo-level separator for context files (Qwen's <|file_sep|>)."""

    def render(self, prefix: str, suffix: str) -> str:
        if self.suffix_first:
            return f"{self.suffix}{suffix}{self.prefix}{prefix}{self.middle}"
        return f"{self.prefix}{prefix}{self.suffix}{suffix}{self.middle}"


QWEN = FimTemplate(
    "qwen",
    "<|fim_prefix|>",
    "<|fim_suffix|>",
    "<|fim_middle|>",
    stop=("<|endoftext|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", "<|im_start|>"),
    file_sep="<|file_sep|>",
)

TEMPLATES: dict[str, FimTemplate] = {QWEN.name: QWEN}


def select_template(model: str, override: str = "auto") -> FimTemplate | None:
    """The template for ``model`` (or the named override); None when we know of none."""
    if override != "auto":
        return TEMPLATES.get(override)
    lowered = model.lower()
    for name, template in TEMPLATES.items():
        if name in lowered:
            return template
    return None


@dataclass(frozen=True, slots=True)
class PromptParts:
    """What goes to the backend: either native FIM (prompt + suffix) or a raw prompt."""

    prompt: str
    suffix: str | None
    raw: bool
    stop: tuple[str, ...]


def build_prompt(
    *,
    template: FimTemplate | None,
    native_fim: bool,
    prefix: str,
    suffix: str,
    path: str = "",
    context: tuple = (),
) -> PromptParts:
    """Assemble the prompt for one completion."""
    if native_fim or template is None:
        return PromptParts(prefix, suffix, False, template.stop if template else ())
    return PromptParts(template.render(prefix, suffix), None, True, template.stop)
