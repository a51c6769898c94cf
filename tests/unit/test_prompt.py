"""FIM templates: chosen from the model name, rendered exactly as each family was trained."""

from __future__ import annotations

import pytest

from mimi_lsp.completion.prompt import (
    MIDDLE_STEP,
    TEMPLATES,
    build_prompt,
    comment_markers,
    display_paths,
    select_template,
)
from mimi_lsp.domain import ContextSnippet

PREFIX = "def add(a, b):\n    return "
SUFFIX = "\n\nprint(add(1, 2))\n"


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("qwen2.5-coder:1.5b-base", "qwen"),
        ("qwen2.5-coder:7b-instruct", "qwen"),
        ("qwen3-coder:30b", "qwen"),
        ("Qwen/Qwen2.5-Coder-1.5B", "qwen"),
        ("starcoder2:3b", "starcoder"),
        ("bigcode/starcoder2-15b", "starcoder"),
        ("starcoder:1b", "starcoder1"),
        ("stable-code:3b-code", "starcoder1"),
        ("codeqwen:7b-code-v1.5", "starcoder1"),
        ("codellama:7b-code", "codellama"),
        ("codellama/CodeLlama-7b-hf", "codellama"),
        ("deepseek-coder:1.3b-base", "deepseek"),
        ("deepseek-coder-v2:16b-lite-base-q4_0", "deepseek"),
        ("codestral:22b", "codestral"),
        ("codegemma:2b", "codegemma"),
        ("granite-code:3b", "granite"),
        ("ibm-granite/granite-3b-code-base-2k", "granite"),
    ],
)
def test_template_chosen_from_model_name(model: str, family: str) -> None:
    """Each known model name maps to its family's template."""
    template = select_template(model)
    assert template is not None and template.name == family


@pytest.mark.parametrize("model", ["llama3.2:3b", "mistral:7b", "qwen2.5:7b", "phi3:mini", ""])
def test_models_without_fim_have_no_template(model: str) -> None:
    """Chat models without FIM tokens get no template (the engine reports FimUnsupported)."""
    assert select_template(model) is None


def test_override_by_family_name_and_alias() -> None:
    """fimTemplate names a family (or an alias) whatever the model is called."""
    assert select_template("my-finetune:latest", "deepseek") is TEMPLATES["deepseek"]
    assert select_template("my-finetune:latest", "StarCoder2") is TEMPLATES["starcoder"]
    assert select_template("qwen2.5-coder:1.5b", "codellama") is TEMPLATES["codellama"]


def test_unknown_override_gives_no_template() -> None:
    """A misspelt fimTemplate is not silently replaced by a guess."""
    assert select_template("qwen2.5-coder:1.5b", "qwenn") is None


def test_inline_override_template() -> None:
    """An inline template with {prefix}/{suffix} is used as written (PSM or SPM order)."""
    psm = select_template("anything", "<A>{prefix}<B>{suffix}<C>")
    spm = select_template("anything", "<S>{suffix}<P>{prefix}")
    assert psm is not None and psm.render("p", "s") == ("<A>p<B>s<C>", "")
    assert spm is not None and spm.render("p", "s") == ("<S>s<P>p", "")


def test_inline_template_in_a_familys_tokens_keeps_its_stops_and_context_layout() -> None:
    """Qwen's tokens in suffix-first order stay Qwen: its stop tokens and repo-level files."""
    spm = select_template(
        "qwen2.5-coder:0.5b", "<|fim_suffix|>{suffix}<|fim_prefix|>{prefix}<|fim_middle|>"
    )
    assert spm is not None and spm.suffix_first
    assert spm.stop == TEMPLATES["qwen"].stop
    snippet = ContextSnippet("/w/util.py", "def helper():\n    pass", "chunk")
    parts = build_prompt(
        template=spm,
        native_fim=False,
        prefix="p",
        suffix="s",
        path="/w/main.py",
        context=[snippet],
        root="/w",
    )
    assert parts.prompt.startswith("<|repo_name|>w\n<|file_sep|>util.py\n")
    assert parts.prompt.endswith(
        "<|file_sep|>main.py\n<|fim_suffix|>s<|fim_prefix|>p<|fim_middle|>"
    )
    gemma = select_template(
        "codegemma:2b", "<|fim_suffix|>{suffix}<|fim_prefix|>{prefix}<|fim_middle|>"
    )
    assert gemma is not None and gemma.stop == TEMPLATES["codegemma"].stop


EXPECTED_RAW = {
    # Qwen: the cursor's line opens the middle, but for its last piece (the space after return).
    "qwen": "<|fim_prefix|>def add(a, b):\n<|fim_suffix|>" + SUFFIX + "<|fim_middle|>    return",
    "starcoder": "<fim_prefix>" + PREFIX + "<fim_suffix>" + SUFFIX + "<fim_middle>",
    "starcoder1": "<fim_prefix>" + PREFIX + "<fim_suffix>" + SUFFIX + "<fim_middle>",
    "codellama": "<PRE> " + PREFIX + " <SUF>" + SUFFIX + " <MID>",
    "deepseek": "<｜fim▁begin｜>" + PREFIX + "<｜fim▁hole｜>" + SUFFIX + "<｜fim▁end｜>",  # noqa: RUF001
    "codestral": "[SUFFIX]" + SUFFIX + "[PREFIX]" + PREFIX,
    "codegemma": "<|fim_prefix|>" + PREFIX + "<|fim_suffix|>" + SUFFIX + "<|fim_middle|>",
    "granite": "<fim_prefix>" + PREFIX + "<fim_suffix>" + SUFFIX + "<fim_middle>",
}


@pytest.mark.parametrize("family", sorted(EXPECTED_RAW))
def test_raw_prompt_per_family(family: str) -> None:
    """Raw mode spells the family's FIM tokens around prefix and suffix."""
    parts = build_prompt(
        template=TEMPLATES[family],
        native_fim=False,
        prefix=PREFIX,
        suffix=SUFFIX,
        path="file:///w/app/main.py",
    )
    assert parts.prompt == EXPECTED_RAW[family]
    assert parts.answer_start == (" " if family == "qwen" else "")
    assert parts.raw is True and parts.suffix is None
    assert parts.stop == TEMPLATES[family].stop


def test_deepseek_tokens_are_full_width() -> None:
    """DeepSeek's FIM tokens use full-width bars and U+2581, not ASCII look-alikes."""
    template = TEMPLATES["deepseek"]
    assert template.prefix == "<\uff5cfim\u2581begin\uff5c>"
    assert template.suffix == "<\uff5cfim\u2581hole\uff5c>"
    assert template.middle == "<\uff5cfim\u2581end\uff5c>"
    assert "<\uff5cend\u2581of\u2581sentence\uff5c>" in template.stop


@pytest.mark.parametrize(
    ("family", "stop"),
    [
        ("qwen", "<|endoftext|>"),
        ("qwen", "<|file_sep|>"),
        ("starcoder", "<file_sep>"),
        ("codellama", "<EOT>"),
        ("codestral", "[PREFIX]"),
        ("codegemma", "<|file_separator|>"),
        ("granite", "<|endoftext|>"),
    ],
)
def test_family_stop_tokens(family: str, stop: str) -> None:
    """Each family stops on its end and separator tokens."""
    assert stop in TEMPLATES[family].stop


def test_native_fim_sends_prefix_and_suffix_apart() -> None:
    """Native FIM: prompt is the prefix, suffix separate, not raw; family stops still apply."""
    parts = build_prompt(
        template=TEMPLATES["qwen"], native_fim=True, prefix=PREFIX, suffix=SUFFIX, path="a.py"
    )
    assert (parts.prompt, parts.suffix, parts.raw) == (PREFIX, SUFFIX, False)
    assert "<|endoftext|>" in parts.stop


def test_native_fim_without_template_has_no_stops() -> None:
    """A model only the server knows how to fill gets the plain native shape."""
    parts = build_prompt(template=None, native_fim=True, prefix="a", suffix="b")
    assert parts == parts.__class__("a", "b", False, ())


CONTEXT = (
    ContextSnippet("/w/app/util/math.py", "def add(x, y):\n    return x + y\n", "definition"),
    ContextSnippet("/w/app/models.py", "class User:\n    name: str", "similar"),
)
CURRENT = "file:///w/app/main.py"


def test_qwen_context_is_repo_level() -> None:
    """Qwen gets <|repo_name|> and one <|file_sep|> per file, with repo-relative paths."""
    parts = build_prompt(
        template=TEMPLATES["qwen"],
        native_fim=False,
        prefix=PREFIX,
        suffix=SUFFIX,
        path=CURRENT,
        context=CONTEXT,
    )
    assert parts.prompt == (
        "<|repo_name|>app\n"
        "<|file_sep|>util/math.py\ndef add(x, y):\n    return x + y\n"
        "<|file_sep|>models.py\nclass User:\n    name: str\n"
        "<|file_sep|>main.py\n"
        "<|fim_prefix|>def add(a, b):\n<|fim_suffix|>" + SUFFIX + "<|fim_middle|>    return"
    )
    assert parts.answer_start == " "


def test_starcoder2_context_is_repo_level() -> None:
    """StarCoder2 gets <repo_name> and <file_sep> before each file's path."""
    parts = build_prompt(
        template=TEMPLATES["starcoder"],
        native_fim=False,
        prefix=PREFIX,
        suffix=SUFFIX,
        path=CURRENT,
        context=CONTEXT[:1],
        root="/w",
    )
    assert parts.prompt == (
        "<repo_name>w"
        "<file_sep>app/util/math.py\ndef add(x, y):\n    return x + y\n"
        "<file_sep>app/main.py\n"
        "<fim_prefix>" + PREFIX + "<fim_suffix>" + SUFFIX + "<fim_middle>"
    )


def test_other_families_get_context_as_comments() -> None:
    """CodeLlama (and the rest) read context as comments on top of the prefix."""
    parts = build_prompt(
        template=TEMPLATES["codellama"],
        native_fim=False,
        prefix=PREFIX,
        suffix=SUFFIX,
        path=CURRENT,
        context=CONTEXT[:1],
    )
    assert parts.prompt == (
        "<PRE> # Path: util/math.py\n# def add(x, y):\n#     return x + y\n"
        + PREFIX
        + " <SUF>"
        + SUFFIX
        + " <MID>"
    )


def test_native_fim_context_as_comments_in_the_prompt() -> None:
    """With native FIM the context comments go in front of the prefix, the suffix stays clean."""
    parts = build_prompt(
        template=TEMPLATES["qwen"],
        native_fim=True,
        prefix="x = ",
        suffix="\n",
        path="file:///w/src/app.ts",
        context=(ContextSnippet("/w/src/lib.ts", "export const k = 1;"),),
    )
    assert parts.prompt == "// Path: lib.ts\n// export const k = 1;\nx = "
    assert parts.suffix == "\n"


def test_context_budget_cuts_whole_lines() -> None:
    """Snippets beyond the context budget are cut at a line boundary or dropped."""
    long = ContextSnippet("/w/a.py", "\n".join(f"line_{i} = {i}" for i in range(100)))
    other = ContextSnippet("/w/b.py", "never = 1")
    parts = build_prompt(
        template=TEMPLATES["codegemma"],
        native_fim=True,
        prefix="",
        suffix="",
        path="/w/c.py",
        context=(long, other),
        max_context_chars=40,
    )
    body = parts.prompt.splitlines()
    assert body[0] == "# Path: a.py"
    assert all(line.startswith("# line_") for line in body[1:])
    assert "never" not in parts.prompt


def test_blank_snippets_are_skipped() -> None:
    """Whitespace-only snippets add nothing to the prompt."""
    parts = build_prompt(
        template=TEMPLATES["qwen"],
        native_fim=False,
        prefix="a",
        suffix="b",
        path="/w/x.py",
        context=(ContextSnippet("/w/y.py", "  \n\n"),),
    )
    assert (parts.prompt, parts.answer_start) == (
        "<|fim_prefix|><|fim_suffix|>b<|fim_middle|>",
        "a",
    )


@pytest.mark.parametrize(
    ("path", "markers"),
    [
        ("main.py", ("# ", "")),
        ("main.rs", ("// ", "")),
        ("main.go", ("// ", "")),
        ("app.tsx", ("// ", "")),
        ("init.lua", ("-- ", "")),
        ("style.css", ("/* ", " */")),
        ("index.html", ("<!-- ", " -->")),
        ("Makefile", ("# ", "")),
        ("unknown.xyz", ("# ", "")),
    ],
)
def test_comment_markers_by_extension(path: str, markers: tuple[str, str]) -> None:
    """Context comments use the document language's line comment."""
    assert comment_markers(path) == markers


def test_display_paths_relative_to_shared_folder() -> None:
    """Paths are shown relative to the deepest folder the files share (or to the root)."""
    assert display_paths("file:///r/src/a.py", ["/r/lib/b.py"]) == ["lib/b.py", "src/a.py"]
    assert display_paths("/r/src/a.py", ["/r/src/b.py"], root="/r") == ["src/b.py", "src/a.py"]


def test_typing_changes_only_the_end_of_a_qwen_prompt() -> None:
    """PSM puts the suffix after the prefix, so a key at the cursor used to change the prompt
    before the whole suffix (a model server evaluated it again). With the prefix's last lines
    opening the middle, the keys of a step, Enter among them, change only the prompt's end."""
    qwen = TEMPLATES["qwen"]
    body = "".join(f"    total += values[{i}] * weights[{i}]\n" for i in range(40))
    typed = "    result = normalise(total, len(values))\n    result += offset_for(kind)"
    rendered = [qwen.render(body + typed[:n], "\n    return result\n") for n in range(len(typed))]
    heads = [prompt[: prompt.index("<|fim_middle|>")] for prompt, _ in rendered]
    assert len(set(heads)) <= 2  # 73 keys cross at most one step of MIDDLE_STEP characters
    for n, (prompt, start) in enumerate(rendered):
        head = prompt[: prompt.index("<|fim_middle|>")]
        assert head.endswith("<|fim_suffix|>\n    return result\n")
        pre_filled = prompt.split("<|fim_middle|>")[1] + start
        assert (body + typed[:n]).endswith(pre_filled) and len(pre_filled) <= MIDDLE_STEP + n


@pytest.mark.parametrize(
    ("line", "start"),
    [
        ("        i", " i"),  # a word cut short: "if", not the variable i
        ("    return ", " "),  # the space belongs to the next word's token
        ("    x = foo.ba", ".ba"),
        ("    total = 1", "1"),  # digits are pieces one by one
        ("        ", "        "),  # only indentation: the model writes it in its own tokens
        ("    if a ==", " =="),
        ("", ""),
    ],
)
def test_a_qwen_middle_stops_before_the_lines_last_piece(line: str, start: str) -> None:
    """The last pre-tokenizer piece before the cursor may be a word cut short; the model would
    read it as a whole token, so the answer writes it instead (and the engine cuts it off)."""
    prompt, answer_start = TEMPLATES["qwen"].render("def f(a):\n" + line, "\n")
    assert answer_start == start
    assert prompt.endswith("<|fim_middle|>" + line[: len(line) - len(start)])
