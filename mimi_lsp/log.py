"""Logging: never to stdout (it carries protocol frames); stderr, a file, and the client.

``SecretScrubber`` removes API keys and tokens from every record, whatever logger wrote it.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable

_SECRET_PATTERNS = [
    re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?(?:bearer\s+)?)[^\s\"',}]+"),
    re.compile(r"(?i)((?:api[_-]?key|token|secret|password)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}&]+"),
    re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"),
]


def scrub(text: str, secrets: list[str] | None = None) -> str:
    """Replace known secret values and secret-looking assignments with ``***``."""
    for value in secrets or ():
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    for pattern in _SECRET_PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + "***", text)
        else:
            text = pattern.sub("***", text)
    return text


class SecretScrubber(logging.Filter):
    """Scrubs every record; ``extra_secrets`` yields values that must never appear."""

    def __init__(self, extra_secrets: Callable[[], list[str]] | None = None) -> None:
        super().__init__()
        self.extra_secrets = extra_secrets or (lambda: [])

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        record.msg = scrub(message, self.extra_secrets())
        record.args = ()
        return True


def secret_env_values() -> list[str]:
    """Values of environment variables whose names look secret."""
    names = re.compile(r"(?i)(key|token|secret|password)")
    return [v for k, v in os.environ.items() if names.search(k) and len(v) >= 6]


def setup_logging(level: str = "info", log_file: str | None = None) -> None:
    """Configure the root logger for a server process (stderr or a file, never stdout)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler: logging.Handler = (
        logging.FileHandler(log_file, encoding="utf-8") if log_file else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(SecretScrubber(secret_env_values))
    root.addHandler(handler)
    root.setLevel(level.upper())
    # pygls logs every message body at INFO: far too chatty, and bodies hold user code.
    logging.getLogger("pygls").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
