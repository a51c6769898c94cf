"""Next-edit suggestions scored on held-out next edits (``next_edit_scenarios.py``).

Each scenario replays the user's edits key by key into the real session (the history hears
them as didChange would), asks for the next edit at the cursor after the last one, and
compares the top suggestion with what the user did next (exact match of document, range and
text after trimming). Scenarios with no natural follow-up count as right when nothing is
suggested. Reports exact-match rate per split (dev / held-out) and kind, time per prediction
(server side, p50/p95), and the reversal ratio.

    python benchmarks/next_edit_eval.py                          # model-free predictors
    python benchmarks/next_edit_eval.py --backend standin        # the model path, through the
        # OpenAI wire stand-in answering each scenario's exact window (plumbing, not quality)
    python benchmarks/next_edit_eval.py --backend openai --base-url http://127.0.0.1:PORT/v1 \\
        --model qwen2.5-coder:0.5b --format sweep                # a real model (timing)
    python benchmarks/next_edit_eval.py --stdio 40               # the issue's done criterion as an
        # editor sees it: the real server over stdio, a parameter renamed at its definition key by
        # key, then copilotInlineEdit at the next use; round-trip time per fresh document
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from next_edit_scenarios import SCENARIOS, Edit, Scenario  # noqa: E402

from mimi_lsp.languages import load_language  # noqa: E402
from mimi_lsp.next_edit.edits import NextEdit, trimmed  # noqa: E402
from mimi_lsp.next_edit.model import build_prompt  # noqa: E402
from mimi_lsp.next_edit.syntax import SyntaxCache, grammar_language  # noqa: E402
from mimi_lsp.services import Services  # noqa: E402
from mimi_lsp.settings import resolve_settings  # noqa: E402

FOLDER = "/bench/next-edit"


def uri_of(path: str) -> str:
    return f"file://{FOLDER}/{path}"


def locate(text: str, edit: Edit) -> tuple[int, int, str, str]:
    """(line, col, old, new) of ``edit`` in ``text``."""
    line_text = text.split("\n")[edit.line]
    if edit.old:
        pattern = (
            r"(?<![\w$])" + re.escape(edit.old) + r"(?![\w$])"
            if re.match(r"\w", edit.old[0]) and re.match(r"\w", edit.old[-1])
            else re.escape(edit.old)
        )
        matches = list(re.finditer(pattern, line_text))
        if len(matches) <= edit.nth:
            raise ValueError(f"{edit.old!r} not on line {edit.line}: {line_text!r}")
        return edit.line, matches[edit.nth].start(), edit.old, edit.new
    index = line_text.find(edit.at)
    if index < 0:
        raise ValueError(f"{edit.at!r} not on line {edit.line}: {line_text!r}")
    return edit.line, index + (len(edit.at) if edit.after else 0), "", edit.new


def type_edit(services: Services, uri: str, line: int, col: int, old: str, new: str) -> None:
    """Replace ``old`` at (line, col) by typing ``new`` key by key (as an editor sends it)."""
    session = services.session
    version = session.version(uri) or 1
    if old:
        session.change(uri, version + 1, [((line, col), (line, col + len(old)), new[:1])])
        rest, at = new[1:], col + 1
    else:
        rest, at = new, col
    for ch in rest:
        version = session.version(uri) or 1
        session.change(uri, version + 1, [((line, at), (line, at), ch)])
        at += 1


def settings_for(args: argparse.Namespace, base_url: str | None) -> dict[str, Any]:
    layer: dict[str, Any] = {
        "completion": {"backend": {"kind": "fake", "replies": ["x"]}},
        "index": {"enabled": False},
    }
    if args.backend != "none":
        layer["nextEdit"] = {
            "model": args.model,
            "promptFormat": args.format,
            "backend": {"kind": "openai", "baseUrl": base_url, "timeoutMs": 120_000},
            "timeoutMs": args.timeout_ms,
            "maxTokens": args.max_tokens,
        }
    return layer


def expected_edit(scenario: Scenario, texts: dict[str, str]) -> tuple[str, tuple] | None:
    if scenario.expect is None:
        return None
    path = scenario.expect.file or next(iter(scenario.files))
    line, col, old, new = locate(texts[path], scenario.expect)
    return uri_of(path), trimmed(line, col, old, new)


def as_key(edit: NextEdit, services: Services) -> tuple[str, tuple]:
    snapshot = services.session.snapshot(edit.uri)
    assert snapshot is not None
    s = edit.span
    if s.start_line == s.end_line:
        old = snapshot.line_text(s.start_line)[s.start_col : s.end_col]
    else:
        old = snapshot.text  # multi-line answers never match a one-line expectation
    return edit.uri, trimmed(s.start_line, s.start_col, old, edit.text)


def oracle_window(services: Services, scenario: Scenario, ctx: Any, fmt: str) -> str:
    """The stand-in's answer: the window with the expected next edit applied (or unchanged)."""
    prompt = build_prompt(ctx, fmt)
    lines = list(prompt.window)
    if scenario.expect is not None:
        path = scenario.expect.file or next(iter(scenario.files))
        if uri_of(path) == ctx.snapshot.uri:
            line, col, old, new = locate(ctx.snapshot.text, scenario.expect)
            if prompt.start <= line < prompt.end:
                text = lines[line - prompt.start]
                lines[line - prompt.start] = text[:col] + new + text[col + len(old) :]
    body = "\n".join(lines)
    if fmt == "zeta":
        return f"```a\n<|editable_region_start|>\n{body}\n<|editable_region_end|>\n```"
    return body + "\n<|file_sep|>"


async def run_scenario(
    scenario: Scenario, args: argparse.Namespace, base_url: str | None, standin: Any
) -> dict[str, Any]:
    settings, problems = resolve_settings(settings_for(args, base_url))
    assert not problems, problems
    services = Services(settings)
    services.workspace_folders = [FOLDER]
    texts = dict(scenario.files)
    for path, text in scenario.files.items():
        services.session.open(uri_of(path), scenario.language, 1, text)
    cursor = (0, 0)
    last_path = next(iter(scenario.files))
    for step in scenario.steps:
        path = step.file or next(iter(scenario.files))
        uri = uri_of(path)
        line, col, old, new = locate(services.session.snapshot(uri).text, step)
        type_edit(services, uri, line, col, old, new)
        cursor, last_path = (line, col + len(new)), path
    request_path = scenario.cursor_file or last_path
    if request_path != last_path:
        cursor = (0, 0)
    snapshot = services.session.snapshot(uri_of(request_path))
    texts = {p: services.session.snapshot(uri_of(p)).text for p in scenario.files}
    want = expected_edit(scenario, texts)
    service = services.next_edit
    times: list[float] = []
    got = None
    reversed_before = service.stats.reversed
    for i in range(args.repeat if args.backend == "none" else 1):
        if args.backend != "none":
            ctx = service.context(snapshot, *cursor)
            if standin is not None:
                standin.configure(replies=[oracle_window(services, scenario, ctx, args.format)])
            started = time.perf_counter()
            edits, _reason = await service.model.predict(ctx)
            edits = service.checked(edits, ctx)
            times.append((time.perf_counter() - started) * 1000)
        else:
            # Every keystroke makes a new version: time the parse too, as a request does.
            service.syntax = SyntaxCache()
            ctx = service.context(snapshot, *cursor)
            started = time.perf_counter()
            edits = service.predict_model_free(ctx)
            times.append((time.perf_counter() - started) * 1000)
        if i == 0:
            got = as_key(edits[0], services) if edits else None
    reversed_count = service.stats.reversed - reversed_before
    await services.aclose()
    return {
        "scenario": scenario,
        "want": want,
        "got": got,
        "right": got == want,
        "times": times,
        "reversed": reversed_count,
        "suggested": got is not None,
    }


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if values else 0.0


def report(results: list[dict[str, Any]], label: str) -> None:
    print(f"\n## {label}\n")
    print("| split | scenarios | exact match | with a next edit | no-follow-up kept quiet |")
    print("|---|---|---|---|---|")
    for split in ("dev", "held-out", "late", "all"):
        rows = [r for r in results if split == "all" or r["scenario"].split == split]
        if not rows:
            continue
        right = sum(r["right"] for r in rows)
        positive = [r for r in rows if r["want"] is not None]
        negative = [r for r in rows if r["want"] is None]
        print(
            f"| {split} | {len(rows)} | {right}/{len(rows)} ({right / len(rows):.0%}) "
            f"| {sum(r['right'] for r in positive)}/{len(positive)} "
            f"| {sum(r['right'] for r in negative)}/{len(negative)} |"
        )
    langs = sorted({r["scenario"].language for r in results})
    print("\n| language | exact match |\n|---|---|")
    for lang in langs:
        rows = [r for r in results if r["scenario"].language == lang]
        print(f"| {lang} | {sum(r['right'] for r in rows)}/{len(rows)} |")
    times = [t for r in results for t in r["times"]]
    suggested = sum(r["suggested"] for r in results)
    reversed_count = sum(r["reversed"] for r in results)
    print(
        f"\ntime per prediction (server side, {len(times)} predictions): "
        f"p50 {pct(times, 50):.2f} ms, p95 {pct(times, 95):.2f} ms, max {max(times):.2f} ms, "
        f"mean {statistics.mean(times):.2f} ms"
    )
    denominator = suggested + reversed_count
    print(
        f"reversal ratio: {reversed_count}/{denominator} candidates dropped for undoing the "
        f"user's edit ({reversed_count / denominator if denominator else 0:.1%}); "
        f"suggestions made: {suggested}/{len(results)}"
    )
    print("\n| scenario | split | kind | result | expected | got |\n|---|---|---|---|---|---|")
    for r in results:
        s = r["scenario"]
        mark = "ok" if r["right"] else "MISS"
        print(
            f"| {s.name} | {s.split} | {s.kind} | {mark} | {_show(r['want'])} | {_show(r['got'])} |"
        )


def _show(key: Any) -> str:
    if key is None:
        return "(none)"
    uri, (line, col, old, new) = key
    return f"{uri.rsplit('/', 1)[-1]}:{line + 1}:{col + 1} `{old}`→`{new}`"


async def stdio_round_trips(count: int) -> None:
    """Round trips of copilotInlineEdit over stdio after a rename at the definition."""
    from lsprotocol import types
    from next_edit_scenarios import PY_BILLING

    from tests.lsp_harness import editor_capabilities, make_client, send_raw, server_command

    client = make_client()
    await client.start_io(*server_command("warning"))
    await client.initialize_session(
        types.InitializeParams(
            capabilities=editor_capabilities("neovim"),
            initialization_options={
                "completion": {"backend": {"kind": "fake", "replies": ["x"]}},
                "index": {"enabled": False},
            },
        )
    )
    times: list[float] = []
    right = 0
    line, col = 11, PY_BILLING.split("\n")[11].index("tax_rate")
    for i in range(count):
        uri = f"file:///bench/next-edit/billing_{i}.py"
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id="python", version=1, text=PY_BILLING
                )
            )
        )
        version = 1
        for j, ch in enumerate("rate"):
            version += 1
            end = col + (len("tax_rate") if j == 0 else j)
            client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                    content_changes=[
                        types.TextDocumentContentChangePartial(
                            range=types.Range(
                                start=types.Position(line=line, character=col + j),
                                end=types.Position(line=line, character=end),
                            ),
                            text=ch,
                        )
                    ],
                )
            )
        params = {
            "textDocument": {"uri": uri, "version": version},
            "position": {"line": 18, "character": 4},
        }
        started = time.perf_counter()
        result = await send_raw(client, "textDocument/copilotInlineEdit", params)
        times.append((time.perf_counter() - started) * 1000)
        edits = getattr(result, "edits", None) or (result or {}).get("edits") or []
        edit = edits[0] if edits else None
        text = getattr(edit, "text", None) if edit is not None else None
        right += text == "rate"
    await client.shutdown_session()
    await client.stop()
    print(
        f"\n## done criterion over stdio ({count} fresh documents)\n\n"
        f"rename `tax_rate` -> `rate` at the definition, key by key; copilotInlineEdit at the "
        f"next use: {right}/{count} right; round trip first {times[0]:.1f} ms, "
        f"p50 {pct(times, 50):.1f} ms, p95 {pct(times, 95):.1f} ms, max {max(times):.1f} ms"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["none", "standin", "openai"], default="none")
    parser.add_argument("--base-url", default=None)
    parser.add_argument("--model", default="sweep-next-edit-0.5b")
    parser.add_argument("--format", choices=["sweep", "zeta"], default="sweep")
    parser.add_argument("--repeat", type=int, default=20, help="timed predictions per scenario")
    parser.add_argument("--timeout-ms", type=int, default=120_000)
    parser.add_argument("--max-tokens", type=int, default=400)
    parser.add_argument("--only", default="", help="run scenarios whose name contains this")
    parser.add_argument("--names", default="", help="comma-separated scenario names to run")
    parser.add_argument("--stdio", type=int, default=0, help="done-criterion round trips")
    args = parser.parse_args()
    if args.stdio:
        await stdio_round_trips(args.stdio)
        return
    names = {n for n in args.names.split(",") if n}
    scenarios = [s for s in SCENARIOS if args.only in s.name and (not names or s.name in names)]
    for language in {grammar_language(s.language) for s in scenarios}:
        if language:
            load_language(language)  # the server loads grammars when a file opens
    standin = None
    base_url = args.base_url
    if args.backend == "standin":
        from tests.standins.openai import OpenAIStandin

        standin = OpenAIStandin(replies=["x"])
        standin.__enter__()
        base_url = standin.base_url
    try:
        results = [await run_scenario(s, args, base_url, standin) for s in scenarios]
    finally:
        if standin is not None:
            standin.__exit__(None, None, None)
    label = {
        "none": "model-free predictors",
        "standin": f"model path ({args.format} prompt) through the OpenAI stand-in (oracle windows)",
        "openai": f"model {args.model} ({args.format} prompt) at {base_url}",
    }[args.backend]
    report(results, label)


if __name__ == "__main__":
    asyncio.run(main())
