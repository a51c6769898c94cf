"""Stand-in model servers speaking the real Ollama and OpenAI wire protocols on 127.0.0.1.

``OllamaStandin`` and ``OpenAIStandin`` run in a background thread (``with ... as server``) or as
scripts (``python -m tests.standins.ollama --port N --reply ...``). See README.md here.
"""

from tests.standins.common import FAIL_MODES, ChatEntry, Recorded, ScriptedToolCall, Turn
from tests.standins.ollama import OllamaStandin
from tests.standins.openai import OpenAIStandin

__all__ = [
    "FAIL_MODES",
    "ChatEntry",
    "OllamaStandin",
    "OpenAIStandin",
    "Recorded",
    "ScriptedToolCall",
    "Turn",
]
