"""``create_server(services, features)``: a language server with its feature modules registered.

The one place the protocol side is assembled: ``Services`` (the composition root of everything
behind the protocol) and ``MimiServer`` (``language_server.py``) are built, then each feature
module's ``register(server)`` adds its handlers. Tests and embedders can pass their own
``Services`` or leave features out.
"""

from __future__ import annotations

from collections.abc import Iterable

from mimi_lsp.features import registry
from mimi_lsp.language_server import MimiServer
from mimi_lsp.services import Services

__all__ = ["MimiServer", "create_server"]


def create_server(
    services: Services | None = None, features: Iterable[str] | None = None
) -> MimiServer:
    """A server on ``services`` with every feature registered (or only ``features``, by name)."""
    server = MimiServer(services or Services())
    wanted = None if features is None else set(features)
    for name, register in registry():
        if wanted is None or name in wanted:
            register(server)
    return server
