"""Typed errors: each maps to an empty result plus, when the user can act, one clear message.

The JSON-RPC codes the server answers failed requests with live here too, once.
"""

from __future__ import annotations

REQUEST_FAILED = -32803
"""LSP ``RequestFailed``: the request was valid but failed (the message says why and what to do)."""
REQUEST_CANCELLED = -32800
"""LSP ``RequestCancelled``."""


class MimiError(Exception):
    """Base of every error the server knows how to report.

    ``fix`` is the one thing the user should do (a command to run, a setting to change).
    """

    def __init__(self, message: str, *, fix: str = "") -> None:
        # Messages reach the user, logs and mimi.status: never with a credential in them
        # (a password in a backend URL, the value of a secret environment variable).
        message, fix = _redact(message), _redact(fix)
        super().__init__(message)
        self.message = message
        self.fix = fix

    def user_message(self) -> str:
        return f"{self.message} {self.fix}".strip()


def _redact(text: str) -> str:
    if not text:
        return text
    from mimi_lsp.log import scrub, secret_env_values

    return scrub(text, secret_env_values())


class BackendUnavailable(MimiError):
    """The model server cannot be reached (down, refused, DNS)."""


class ModelNotFound(MimiError):
    """The model server answers but does not have the configured model."""


class BackendError(MimiError):
    """The model server answered with an error or with garbage."""


class BackendTimeout(MimiError):
    """The model server did not answer in time."""


class Busy(MimiError):
    """A bounded queue is full; try again later."""


class FimUnsupported(MimiError):
    """The configured model has no fill-in-the-middle support we know of."""


class OutsideWorkspace(MimiError):
    """A path resolves outside every workspace folder (symlinks included)."""


class GitProblem(MimiError):
    """Git cannot do what was asked here: no repository, nothing to commit, a merge in
    progress, a detached HEAD, or git itself failed. Nothing was written."""


class FileNotFound(MimiError):
    """The path is inside the workspace but names no file (or folder)."""
