"""Typed errors: each maps to an empty result plus, when the user can act, one clear message."""

from __future__ import annotations


class MimiError(Exception):
    """Base of every error the server knows how to report.

    ``fix`` is the one thing the user should do (a command to run, a setting to change).
    """

    def __init__(self, message: str, *, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def user_message(self) -> str:
        return f"{self.message} {self.fix}".strip()


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


class InvalidSettings(MimiError):
    """Settings failed validation; defaults are used instead."""


class OutsideWorkspace(MimiError):
    """A path resolves outside every workspace folder (symlinks included)."""


class IndexError_(MimiError):
    """The index could not be read or written."""
