"""MimiProtocol's workarounds still fit the pygls they patch (fails when pygls changes).

``protocol.py`` overrides private pygls methods; each was written against the versions in
``PYGLS_TESTED``. A new pygls must be re-checked by hand (the e2e tests: invalid params answered,
cancelled commands, no future leak) and added there; until then this test fails.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

from pygls.protocol import JsonRPCProtocol, LanguageServerProtocol

from mimi_lsp.protocol import PYGLS_TESTED, MimiProtocol

# The private pygls methods we override or rely on, with the parameters we call them with.
PRIVATE = {
    "_handle_request": ["self", "msg_id", "method_name", "params"],
    "_send_response": ["self", "msg_id", "result", "error"],
    "_execute_handler": ["self", "msg_id", "handler", "callback", "args", "kwargs"],
    "_handle_cancel_notification": ["self", "msg_id"],
}


def test_pygls_is_a_tested_version() -> None:
    """The installed pygls is one the workarounds were tested on."""
    assert version("pygls") in PYGLS_TESTED, (
        f"pygls {version('pygls')} is untested: re-check MimiProtocol's workarounds "
        f"(protocol.py) and add the version to PYGLS_TESTED"
    )


def test_overridden_private_methods_keep_their_shape() -> None:
    """Every private method we override still exists with the same parameters."""
    for name, params in PRIVATE.items():
        original = getattr(JsonRPCProtocol, name, None)
        assert original is not None, f"pygls has no {name} any more"
        assert list(inspect.signature(original).parameters) == params, name
        assert getattr(MimiProtocol, name) is not original, f"{name} is no longer overridden"


def test_relied_on_internals_exist() -> None:
    """The attributes our overrides read are still set by pygls."""
    source = inspect.getsource(JsonRPCProtocol.__init__)
    assert "self._request_futures" in source
    assert "def msg_id" in inspect.getsource(JsonRPCProtocol)
    assert hasattr(LanguageServerProtocol, "structure_message")
    assert "fm" in inspect.getsource(JsonRPCProtocol.__init__)
