"""Logging: never to stdout (it carries protocol frames); stderr, a file, and the client.

``SecretScrubber`` removes API keys and tokens from every record, whatever logger wrote it;
the formatter scrubs the final text again (tracebacks, ``extra`` fields). ``--log-format json``
writes one JSON object per line (``JsonFormatter``) for log shippers.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime

_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@")


def redact_urls(text: str) -> str:
    """``scheme://user:password@host`` → ``scheme://user:***@host``."""
    return _URL_USERINFO.sub(lambda m: m.group(1) + "***@", text)


_SECRET_PATTERNS = [
    re.compile(
        r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token|digest)\s+)?)[^\s\"',}]+"
    ),
    # HTTP Basic credentials alone (a URL's user:password as the client sent it, base64);
    # a digit, +, /, = or an inner capital tells base64 from a word ("Basic authentication").
    re.compile(r"(\b[Bb]asic\s+)(?=.[a-z]*[A-Z0-9+/=])[A-Za-z0-9+/]{8,}={0,2}"),
    re.compile(r"(?i)((?:api[_-]?key|token|secret|password)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}&]+"),
    re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"),
]


def scrub(text: str, secrets: list[str] | None = None) -> str:
    """Replace known secret values and secret-looking assignments with ``***``."""
    for value in secrets or ():
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    text = redact_urls(text)
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


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``msg``, ``pid`` (+ ``exc``,
    and any ``extra`` fields a caller passed), for log shippers (Loki, Elastic, journald)."""

    _STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,
        }
        for key, value in vars(record).items():
            if key not in self._STANDARD and not key.startswith("_"):
                out[key] = (
                    value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
                )
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = record.stack_info
        return json.dumps(out, ensure_ascii=False, default=str)


class _ScrubbingFormatter(logging.Formatter):
    """Scrubs the final text too: tracebacks and extra fields bypass ``SecretScrubber``."""

    def __init__(self, inner: logging.Formatter, secrets: Callable[[], list[str]]) -> None:
        super().__init__()
        self.inner = inner
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        # A lone surrogate (from a client's JSON "\ud800") cannot be encoded as UTF-8: the
        # handler would drop the record ("--- Logging error ---"); write it escaped instead.
        text = scrub(self.inner.format(record), self.secrets())
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def make_formatter(log_format: str = "text") -> logging.Formatter:
    """The formatter for ``--log-format`` (``text`` or ``json``), scrubbing secrets."""
    inner: logging.Formatter = (
        JsonFormatter()
        if log_format == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    return _ScrubbingFormatter(inner, secret_env_values)


EXPECTED_ERROR_CODES = frozenset({-32602, -32803})
"""JSON-RPC InvalidParams and RequestFailed: answers that say what went wrong and what to do."""


class ExpectedRequestErrors(logging.Filter):
    """One line, not a traceback, for a request that failed the way we meant it to.

    pygls logs every error a handler raises with its whole traceback (a failed chat: ~110 lines
    of chained tracebacks from the HTTP client up). When the error is one we raise on purpose
    (invalid arguments, a backend that is down: the client gets the message and the fix), the
    record becomes one warning line with the cause; the traceback stays at debug level.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if getattr(exc, "code", None) not in EXPECTED_ERROR_CODES:
            return True
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            return True
        record.msg, record.args = "request failed: %s", (exc,)
        record.exc_info, record.exc_text = None, None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def setup_logging(
    level: str = "info", log_file: str | None = None, log_format: str = "text"
) -> None:
    """Configure the root logger for a server process (stderr or a file, never stdout)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    handler: logging.Handler = (
        logging.FileHandler(log_file, encoding="utf-8")
        if log_file
        else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(make_formatter(log_format))
    handler.addFilter(SecretScrubber(secret_env_values))
    root.addHandler(handler)
    root.setLevel(level.upper())
    # pygls logs every message body at INFO: far too chatty, and bodies hold user code.
    logging.getLogger("pygls").setLevel(logging.WARNING)
    logging.getLogger("pygls.protocol.json_rpc").addFilter(ExpectedRequestErrors())
    for name in ("httpx", "httpx2", "httpcore", "httpcore2"):
        logging.getLogger(name).setLevel(logging.WARNING)
