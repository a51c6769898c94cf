"""How a repository writes its commit subjects, read from its recent history.

``analyse`` looks at the last ~20 subjects (merges left out): Conventional Commits
(``feat(scope): …``) or another ``area: …`` prefix or none; the usual length; the tense of the
first verb (imperative "Add", past "Added", present "Adds"); capitalisation; a final period;
whether commits carry a body. ``instructions`` turns that into the rules the model is given,
with a few of the subjects as examples. A repository without history gets git's own advice:
a short imperative subject.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass

CONVENTIONAL = re.compile(
    r"^(feat|fix|docs|style|refactor|perf|test|tests|build|ci|chore|revert|deps|release)"
    r"(\([^)]*\))?!?: "
)
AREA = re.compile(r"^[\w.\-/+]+( [\w.\-/+]+){0,3}(\([^)]*\))?(, ?[\w.\-/+]+)*: ")
"""``index: …``, ``web terminal: …``, ``deploy/triton, tests: …`` (up to four words)."""
_VERBS = frozenset(
    """add fix remove update use make move rename refactor improve support allow implement
    handle bump drop change clean document test simplify avoid ensure let keep show replace split
    merge revert introduce extract enable disable set create delete write return run check build
    release speed skip tidy restore reduce raise limit prefer wire start stop load save cache
    correct adjust convert expose hide pass guard log measure rewrite trim cut format sort
    upgrade downgrade pin unpin switch migrate port rework restructure export import read apply
    include exclude mark report warn describe explain say name add""".split()
)
_PAST_IRREGULAR = frozenset(
    "made wrote built ran kept let put split set cut drew took gave moved".split()
)
_NOT_PAST = frozenset({"need", "embed", "speed", "feed", "seed", "shed", "bed", "red"})


@dataclass(frozen=True, slots=True)
class Style:
    subjects: tuple[str, ...]
    conventional: bool = False
    types: tuple[str, ...] = ()
    area_prefix: bool = False
    median_length: int = 50
    longest: int = 72
    tense: str | None = "imperative"
    """None: the subjects do not start with a verb often enough to say."""
    capitalised: bool = True
    period: bool = False
    bodies: bool = False


def _first_word(subject: str) -> str:
    rest = CONVENTIONAL.sub("", subject, count=1)
    rest = AREA.sub("", rest, count=1)
    match = re.match(r"[A-Za-z]+", rest.strip())
    return match.group(0) if match else ""


def _tense(word: str) -> str | None:
    w = word.lower()
    if not w:
        return None
    if w in _VERBS:
        return "imperative"
    if w in _PAST_IRREGULAR or (w.endswith("ed") and w not in _NOT_PAST and len(w) > 3):
        return "past"
    if w.endswith("es") and (w[:-2] in _VERBS or w[:-1] in _VERBS):
        return "present"
    if w.endswith("s") and w[:-1] in _VERBS:
        return "present"
    return None


def analyse(commits: list[tuple[str, str]]) -> Style:
    """The style of ``commits`` ((subject, body) pairs, newest first)."""
    subjects = tuple(s for s, _ in commits if not s.lower().startswith(("merge ", 'revert "')))
    if not subjects:
        return Style(subjects=())
    n = len(subjects)
    conventional = [m for s in subjects if (m := CONVENTIONAL.match(s))]
    is_conventional = len(conventional) * 2 >= n
    area = sum(1 for s in subjects if AREA.match(s) and not CONVENTIONAL.match(s))
    types = tuple(dict.fromkeys(m.group(1) for m in conventional))
    words = [_first_word(s) for s in subjects]
    tenses = [t for w in words if (t := _tense(w))]
    # Too few recognisable verbs (noun phrases such as "index: faster search"): no tense rule.
    tense = statistics.mode(tenses) if len(tenses) * 3 >= n else None
    letters = [w for w in words if w]
    capitalised = sum(1 for w in letters if w[0].isupper()) * 2 > len(letters) if letters else True
    lengths = sorted(len(s) for s in subjects)
    return Style(
        subjects=subjects,
        conventional=is_conventional,
        types=types,
        area_prefix=not is_conventional and area * 2 >= n,
        median_length=int(statistics.median(lengths)),
        longest=lengths[int(0.9 * (n - 1))],
        tense=tense,
        capitalised=capitalised,
        period=sum(1 for s in subjects if s.endswith(".")) * 2 > n,
        bodies=sum(1 for _, b in commits if b.strip()) * 2 > len(commits),
    )


def instructions(style: Style, examples: int = 8) -> str:
    """The rules for the model, in the repository's own terms."""
    if not style.subjects:
        return (
            "This repository has no commits yet. Write a subject line of at most 50 characters "
            'in the imperative mood ("Add …", not "Added …"), capitalised, no final period; '
            "then, if the change needs it, a blank line and a short body saying why."
        )
    rules = []
    if style.conventional:
        kinds = ", ".join(style.types) or "feat, fix"
        rules.append(
            "Use Conventional Commits as this repository does: `type(scope): summary` "
            f"(types used here: {kinds})."
        )
    elif style.area_prefix:
        rules.append(
            "Start the subject with the area it touches and a colon, as these commits do "
            "(e.g. `index: …`)."
        )
    else:
        rules.append("No type or area prefix: this repository does not use one.")
    if style.tense is None:
        rules.append("Phrase the summary the way the examples below do.")
    else:
        tense = {
            "imperative": 'the imperative mood ("Add", "Fix")',
            "past": 'the past tense ("Added", "Fixed")',
            "present": 'the present tense ("Adds", "Fixes")',
        }[style.tense]
        rules.append(f"Write the summary in {tense}.")
    rules.append(
        "Start the summary with a capital letter."
        if style.capitalised
        else "Start the summary with a lowercase letter."
    )
    rules.append("End the subject with a period." if style.period else "No final period.")
    limit = max(50, min(style.longest, 400))
    rules.append(
        f"Subjects here are usually about {style.median_length} characters; keep it under {limit}."
    )
    rules.append(
        "Add a blank line and a short body (what changed and why) as most commits here do."
        if style.bodies
        else "Most commits here are a subject line only: add a body only if the change "
        "really needs explaining."
    )
    shown = "\n".join(f"- {s}" for s in style.subjects[:examples])
    return " ".join(rules) + f"\n\nRecent subjects in this repository:\n{shown}"
