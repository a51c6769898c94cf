"""LSP feature modules; each exposes ``register(server)``.

Add a module to ``FEATURES`` to wire it in; tests can build a server with a subset.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

FEATURES = [
    "lifecycle",
    "inline_completion",
    "status",
    "index",
    "agent",
    "chat",
    "git",
    "code_actions",
    "operations",
    "next_edit",
    "setup",
]


if TYPE_CHECKING:
    from mimi_lsp.language_server import MimiServer


def registry() -> list[tuple[str, Callable[[MimiServer], None]]]:
    """(name, register) for every feature module, in order."""
    out = []
    for name in FEATURES:
        module = importlib.import_module(f"mimi_lsp.features.{name}")
        out.append((name, module.register))
    return out
