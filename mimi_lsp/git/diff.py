"""The diff a commit message is written from, fitted to the model's budget.

``parse_diff`` splits ``git diff`` output into files and hunks. ``fit`` renders it within a
character budget: the whole diff when it fits; otherwise every file keeps a fair share (small
files whole, big ones their first whole hunks) and every hunk left out is named with its line
counts and the function it is in, so the model knows what it did not see. A hunk is only ever
cut when a file's first hunk alone is over its share, and then the cut says how much is missing.
Binary and generated files (lock files, minified or bundled code, files marked generated) are
named with their line counts and never sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import PurePosixPath

from mimi_lsp.git.repo import FileStat

MIN_CUT = 240
"""A file's first hunk is cut to its share only when at least this much of it fits."""

GENERATED_NAMES = frozenset(
    {
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "bun.lockb",
        "poetry.lock",
        "Pipfile.lock",
        "uv.lock",
        "pdm.lock",
        "Cargo.lock",
        "Gemfile.lock",
        "composer.lock",
        "go.sum",
        "flake.lock",
        "mix.lock",
        "pubspec.lock",
        "Package.resolved",
        "packages.lock.json",
    }
)
GENERATED_GLOBS = (
    "*.min.js",
    "*.min.css",
    "*.map",
    "*_pb2.py",
    "*_pb2.pyi",
    "*_pb2_grpc.py",
    "*.pb.go",
    "*.pb.cc",
    "*.pb.h",
    "*.g.dart",
    "*.generated.*",
    "*.snap",
)
GENERATED_DIRS = frozenset({"node_modules", "vendor", "dist", "__snapshots__", "third_party"})
_MARKERS = re.compile(
    r"@generated|DO NOT EDIT|Code generated .* DO NOT EDIT|auto-?generated|This file was generated",
    re.IGNORECASE,
)
LONG_LINE = 1_000
"""An added line this long means minified or bundled output."""

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*)$")


@dataclass(slots=True)
class Hunk:
    header: str
    lines: list[str] = field(default_factory=list)

    @property
    def added(self) -> int:
        return sum(1 for line in self.lines if line.startswith("+"))

    @property
    def deleted(self) -> int:
        return sum(1 for line in self.lines if line.startswith("-"))

    @property
    def where(self) -> str:
        """The function or section git names in the hunk header ('' when none)."""
        m = _HUNK.match(self.header)
        return m.group(5).strip() if m else ""

    def text(self) -> str:
        return "\n".join([self.header, *self.lines]) + "\n"


@dataclass(slots=True)
class FileDiff:
    path: str
    meta: list[str] = field(default_factory=list)
    """``diff --git`` and the lines before the first hunk (modes, renames, ---/+++)."""
    hunks: list[Hunk] = field(default_factory=list)

    @property
    def head(self) -> str:
        return "\n".join(self.meta) + "\n"

    @property
    def size(self) -> int:
        return len(self.head) + sum(len(h.text()) for h in self.hunks)

    @property
    def added(self) -> int:
        return sum(h.added for h in self.hunks)

    @property
    def deleted(self) -> int:
        return sum(h.deleted for h in self.hunks)


def parse_diff(text: str) -> list[FileDiff]:
    """``git diff`` output split into files and hunks."""
    files: list[FileDiff] = []
    current: FileDiff | None = None
    hunk: Hunk | None = None
    for line in text.split("\n"):
        if line.startswith("diff --git "):
            current = FileDiff(_path_of(line))
            files.append(current)
            current.meta.append(line)
            hunk = None
        elif current is None:
            continue
        elif line.startswith("@@ "):
            hunk = Hunk(line)
            current.hunks.append(hunk)
        elif hunk is not None:
            if line[:1] in (" ", "+", "-", "\\"):
                hunk.lines.append(line)
        else:
            current.meta.append(line)
            if line.startswith("+++ b/"):
                current.path = line[6:]
            elif line.startswith("rename to "):
                current.path = line[10:]
    return files


def _path_of(header: str) -> str:
    # "diff --git a/x b/x": without quoting, the second half is the new path.
    rest = header[len("diff --git ") :]
    half = len(rest) // 2
    if rest[half : half + 3] == " b/" and rest.startswith("a/"):
        return rest[half + 3 :]
    return rest.rsplit(" b/", 1)[-1]


def generated_reason(path: str, added_lines: list[str] | None = None) -> str | None:
    """Why ``path`` looks generated (its name, its folder, a marker, minified lines), or None."""
    pure = PurePosixPath(path)
    if pure.name in GENERATED_NAMES:
        return "lock file"
    if any(fnmatch(pure.name, g) for g in GENERATED_GLOBS):
        return "generated"
    if any(part in GENERATED_DIRS for part in pure.parts[:-1]):
        return "vendored or built"
    for line in (added_lines or [])[:12]:
        if _MARKERS.search(line):
            return "marked generated"
    if any(len(line) > LONG_LINE for line in added_lines or []):
        return "minified"
    return None


@dataclass(frozen=True, slots=True)
class Fitted:
    """The diff text the model sees and what was left out of it."""

    text: str
    files: int
    named_only: list[str]
    """Binary or generated files, named but not sent."""
    hunks_left_out: int
    cut_hunks: int

    @property
    def summarised(self) -> bool:
        return bool(self.hunks_left_out or self.cut_hunks)


def _stat(added: int | None, deleted: int | None) -> str:
    return "binary" if added is None else f"+{added} -{deleted}"


def fit(
    stats: list[FileStat],
    diffs: list[FileDiff],
    budget: int,
    skipped: dict[str, str] | None = None,
    truncated: bool = False,
) -> Fitted:
    """The diff within ``budget`` characters (see the module docstring).

    ``stats`` lists every changed file; ``diffs`` holds the text of those that may be sent;
    ``skipped`` maps files not to send to the reason (binary, lock file, generated…).
    """
    skipped = dict(skipped or {})
    by_path = {d.path: d for d in diffs}
    named: list[str] = []
    for s in stats:
        if s.path in by_path:
            continue
        reason = skipped.get(s.path) or ("binary" if s.binary else "not shown")
        if s.path not in skipped and truncated:
            reason = "diff too large to read"
        named.append(f"{s.path} ({reason}, {_stat(s.added, s.deleted)})")
    sendable = [by_path[s.path] for s in stats if s.path in by_path]
    notes = ""
    if named:
        notes = "Changed but not shown:\n" + "".join(f"- {n}\n" for n in named) + "\n"
    if len(notes) > budget // 2:
        # Thousands of named files: their count per folder instead.
        notes = "Changed but not shown: " + _by_folder(named) + "\n\n"
    room = budget - len(notes)
    whole = sum(d.size for d in sendable)
    if whole <= room:
        body = "".join(d.head + "".join(h.text() for h in d.hunks) for d in sendable)
        return Fitted(notes + body, len(stats), named, 0, 0)

    # Water-filling: the smallest files first, each up to an equal share of what is left.
    order = sorted(sendable, key=lambda d: d.size)
    rendered: dict[str, str] = {}
    left_out = cut = 0
    overflow: list[FileDiff] = []
    for i, diff in enumerate(order):
        share = room // (len(order) - i)
        text, n_left, n_cut = _fit_file(diff, share)
        if len(text) > max(room, 0):
            overflow.append(diff)
            continue
        rendered[diff.path] = text
        room -= len(text)
        left_out += n_left
        cut += n_cut
    body = "".join(rendered[d.path] for d in sendable if d.path in rendered)
    if overflow:
        left_out += sum(len(d.hunks) for d in overflow)
        body += (
            "[mimi: not shown for lack of room: "
            + ", ".join(f"{d.path} ({_stat(d.added, d.deleted)})" for d in overflow)
            + "]\n"
        )
    return Fitted(notes + body, len(stats), named, left_out, cut)


def _fit_file(diff: FileDiff, share: int) -> tuple[str, int, int]:
    """One file's diff within ``share`` characters: (text, hunks left out, hunks cut)."""
    if diff.size <= share:
        return diff.head + "".join(h.text() for h in diff.hunks), 0, 0
    parts = [diff.head]
    used = len(diff.head)
    missing: list[Hunk] = []
    cut = 0
    for hunk in diff.hunks:
        text = hunk.text()
        if used + len(text) <= share:
            parts.append(text)
            used += len(text)
        elif len(parts) == 1 and share - used >= MIN_CUT:
            # Not even the first hunk fits: show its start and say exactly what is missing.
            head, rest = _cut(hunk, share - used - 80)
            parts.append(head + f"[mimi: hunk cut here: {rest} more lines not shown]\n")
            used += len(parts[-1])
            cut += 1
        else:
            missing.append(hunk)
    if missing:
        added = sum(h.added for h in missing)
        deleted = sum(h.deleted for h in missing)
        places = sorted({h.where for h in missing if h.where})
        where = f" in {', '.join(places[:6])}" if places else ""
        parts.append(
            f"[mimi: {len(missing)} more hunk{'s' if len(missing) > 1 else ''} "
            f"(+{added} -{deleted}){where} not shown]\n"
        )
    return "".join(parts), len(missing), cut


def _cut(hunk: Hunk, room: int) -> tuple[str, int]:
    """The hunk's header and the whole lines that fit ``room``; how many lines were left."""
    out = [hunk.header]
    used = len(hunk.header) + 1
    for n, line in enumerate(hunk.lines):
        if used + len(line) + 1 > room:
            return "\n".join(out) + "\n", len(hunk.lines) - n
        out.append(line)
        used += len(line) + 1
    return "\n".join(out) + "\n", 0


def _by_folder(named: list[str]) -> str:
    counts: dict[str, int] = {}
    for item in named:
        folder = str(PurePosixPath(item.split(" (", 1)[0]).parent)
        counts[folder] = counts.get(folder, 0) + 1
    top = sorted(counts.items(), key=lambda kv: -kv[1])
    shown = ", ".join(f"{folder}/ ({n} files)" for folder, n in top[:20])
    more = f" and {len(top) - 20} more folders" if len(top) > 20 else ""
    return f"{len(named)} files: {shown}{more}"
