"""Golden files: document + cursor + raw model output -> the ghost text the user sees.

Every ``tests/golden/completion/<language>/<case>.toml`` runs through the engine's steps:
``decide_shape`` -> the stream cut at the first stop sequence or where ``StreamWatch`` says ->
``postprocess``. See the README there.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from mimi_lsp.completion.postprocess import (
    PostContext,
    StreamWatch,
    decide_shape,
    postprocess,
    stop_sequences,
)

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "completion"
CURSOR = "<CURSOR>"
KEYS = {
    "description",
    "document",
    "raw",
    "expected",
    "replace",
    "shape",
    "mode",
    "language",
    "crlf",
    "raw_crlf",
}


@dataclass(frozen=True)
class Case:
    language: str
    prefix: str
    suffix: str
    raw: str
    expected: str
    replace: int
    shape: str | None
    mode: str
    eol: str


def _drop_one_newline(value: str) -> str:
    return value[:-1] if value.endswith("\n") else value


def load_case(path: Path) -> Case:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    unknown = set(data) - KEYS
    assert not unknown, f"{path.name}: unknown keys {sorted(unknown)}"
    for key in ("description", "document", "raw", "expected"):
        assert key in data, f"{path.name}: missing {key!r}"
    document: str = data["document"]
    assert document.count(CURSOR) == 1, f"{path.name}: document needs exactly one {CURSOR}"
    eol = "\r\n" if data.get("crlf") else "\n"
    document = document.replace("\n", eol)
    raw = _drop_one_newline(data["raw"])
    if data.get("raw_crlf"):
        raw = raw.replace("\n", "\r\n")
    expected = _drop_one_newline(data["expected"]).replace("\n", eol)
    at = document.index(CURSOR)
    return Case(
        language=data.get("language", path.parent.name),
        prefix=document[:at],
        suffix=document[at + len(CURSOR) :],
        raw=raw,
        expected=expected,
        replace=int(data.get("replace", 0)),
        shape=data.get("shape"),
        mode=data.get("mode", "auto"),
        eol=eol,
    )


def cut_at_first_stop(raw: str, stops: tuple[str, ...]) -> str:
    """What the engine does while streaming: stop at the first stop sequence found."""
    found = [raw.find(stop) for stop in stops if stop and stop in raw]
    return raw[: min(found)] if found else raw


def cut_where_done(raw: str, ctx: PostContext) -> str:
    """What the engine does while streaming: stop reading once ``StreamWatch`` says so."""
    watch = StreamWatch(ctx)
    at = raw.find("\n")
    while at != -1:
        if watch.done(raw[: at + 1]):
            return raw[: at + 1]
        at = raw.find("\n", at + 1)
    return raw


CASES = sorted(GOLDEN.glob("*/*.toml"))


def test_there_are_enough_golden_cases() -> None:
    """At least 40 cases, with 10+ each for Python, TypeScript, Rust and Go."""
    assert len(CASES) >= 40
    for language in ("python", "typescript", "rust", "go"):
        assert len(list((GOLDEN / language).glob("*.toml"))) >= 10, language


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden(path: Path) -> None:
    """The golden file's raw model output becomes exactly its expected ghost text."""
    case = load_case(path)
    shape = decide_shape(case.prefix, case.suffix, case.language, case.mode)
    if case.shape is not None:
        assert shape.value == case.shape, "decide_shape"
    raw = cut_at_first_stop(case.raw, stop_sequences(case.language, case.eol))
    ctx = PostContext(case.prefix, case.suffix, case.language, shape, case.eol)
    suggestion = postprocess(cut_where_done(raw, ctx), ctx)
    text = suggestion.text if suggestion is not None else ""
    replace = suggestion.replace if suggestion is not None else 0
    assert text == case.expected
    assert replace == case.replace, "replace"
