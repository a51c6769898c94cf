"""Stand-in model servers speaking the real Ollama and OpenAI wire protocols on 127.0.0.1.

``OllamaStandin`` (``tests.standins.ollama``) and ``OpenAIStandin`` (``tests.standins.openai``)
run in a background thread (``with ... as server``) or as scripts
(``python -m tests.standins.ollama --port N --reply ...``). See README.md here. Names are
resolved lazily so that ``python -m tests.standins.<kind>`` does not import itself twice.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "OllamaStandin": "tests.standins.ollama",
    "OpenAIStandin": "tests.standins.openai",
    "FAIL_MODES": "tests.standins.common",
    "ChatEntry": "tests.standins.common",
    "Recorded": "tests.standins.common",
    "ScriptedToolCall": "tests.standins.common",
    "Turn": "tests.standins.common",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(module), name)
