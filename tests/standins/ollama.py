"""A stand-in Ollama server: the real HTTP API (NDJSON streaming) on 127.0.0.1, no model.

Endpoints: ``POST /api/generate`` (prompt, native ``suffix``, ``raw``, ``options.stop`` and
``options.num_predict`` honoured), ``POST /api/chat`` (text and scripted tool calls),
``POST /api/embed``, ``POST /api/show`` (template with ``.Suffix`` and the ``insert``
capability for FIM models; 404 for unknown models), ``GET /api/tags``, ``GET /api/version``,
``GET /api/ps``. Unknown models get Ollama's 404 ``model "x" not found, try pulling it first``.

Run it for manual testing or another process's tests::

    python -m tests.standins.ollama --port 11435 --reply "return a + b" --first-token-ms 50
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

from tests.standins.common import (
    ModelSpec,
    StandinHandler,
    StandinServer,
    cut_at_stop,
    embedding,
    serve_main,
    tokens,
)

FIM_TEMPLATE = (
    "{{- if .Suffix }}<|fim_prefix|>{{ .Prompt }}<|fim_suffix|>{{ .Suffix }}<|fim_middle|>"
    "{{- else }}{{ .Prompt }}{{- end }}"
)
PLAIN_TEMPLATE = "{{ .Prompt }}"
CHAT_TEMPLATE = (
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}"
    "<|im_start|>assistant\n"
)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _not_found(model: str) -> dict[str, str]:
    return {"error": f'model "{model}" not found, try pulling it first'}


class OllamaHandler(StandinHandler):
    routes = {
        ("POST", "/api/generate"): "generate",
        ("POST", "/api/chat"): "chat",
        ("POST", "/api/embed"): "embed",
        ("POST", "/api/embeddings"): "embeddings",
        ("POST", "/api/show"): "show",
        ("GET", "/api/tags"): "tags",
        ("GET", "/api/version"): "version",
        ("GET", "/api/ps"): "ps",
        ("GET", "/"): "root",
        ("HEAD", "/"): "root",
    }

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    # ------------------------------------------------------------------ generation

    def _model(self, body: dict[str, Any]) -> ModelSpec | None:
        name = str(body.get("model") or "")
        spec = self.standin.find_model(name)
        if spec is None:
            self.send_json(404, _not_found(name))
        return spec

    def _stream_ndjson(self, pieces: list[str], make: Any, final: dict[str, Any]) -> None:
        self.start_stream("application/x-ndjson")
        self.stream_pieces(
            pieces,
            lambda piece: (json.dumps(make(piece)) + "\n").encode("utf-8"),
            garbage=b'{"model": "oops", "response": "\n',
            trailer=lambda: [(json.dumps(final) + "\n").encode("utf-8")],
        )

    def generate(self, body: dict[str, Any]) -> None:
        spec = self._model(body)
        if spec is None:
            return
        model = body["model"]
        prompt = str(body.get("prompt") or "")
        suffix = body.get("suffix") or ""
        if suffix and not body.get("raw") and not spec.fim:
            self.send_json(
                400, {"error": f"registry.ollama.ai/library/{model} does not support insert"}
            )
            return
        if not prompt and not suffix:
            # An empty prompt loads the model (Ollama's warm-up call).
            self.send_json(
                200,
                {
                    "model": model,
                    "created_at": _now(),
                    "response": "",
                    "done": True,
                    "done_reason": "load",
                },
            )
            return
        options = body.get("options") or {}
        text, stopped = cut_at_stop(self.standin.pick_reply(prompt), options.get("stop"))
        pieces = tokens(text)
        limit = options.get("num_predict")
        reason = "stop"
        if isinstance(limit, int) and limit >= 0 and len(pieces) > limit:
            pieces, reason = pieces[:limit], "length"
        started = time.monotonic_ns()
        final = {
            "model": model,
            "created_at": _now(),
            "response": "",
            "done": True,
            "done_reason": reason,
            "total_duration": time.monotonic_ns() - started,
            "prompt_eval_count": len(tokens(prompt)),
            "eval_count": len(pieces),
        }
        if body.get("stream") is False:
            self.send_json(200, {**final, "response": "".join(pieces)})
            return
        self._stream_ndjson(
            pieces,
            lambda piece: {"model": model, "created_at": _now(), "response": piece, "done": False},
            final,
        )

    def chat(self, body: dict[str, Any]) -> None:
        spec = self._model(body)
        if spec is None:
            return
        model = body["model"]
        messages = list(body.get("messages") or [])
        turn = self.standin.pick_turn(messages)
        options = body.get("options") or {}
        text, _ = cut_at_stop(turn.text, options.get("stop"))
        pieces = tokens(text)
        calls = [
            {"function": {"name": c.name, "arguments": c.arguments}}
            | ({"id": c.id} if c.id else {})
            for c in turn.tool_calls
        ]
        final = {
            "model": model,
            "created_at": _now(),
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "eval_count": len(pieces),
        }
        if body.get("stream") is False:
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if calls:
                message["tool_calls"] = calls
            self.send_json(200, {**final, "message": message})
            return

        def chunk(piece: str) -> dict[str, Any]:
            return {
                "model": model,
                "created_at": _now(),
                "message": {"role": "assistant", "content": piece},
                "done": False,
            }

        # Ollama sends tool calls whole, in one message, after any text.
        pieces_and_calls: list[Any] = list(pieces)
        if calls:
            pieces_and_calls.append({"__calls__": calls})

        def make(piece: Any) -> dict[str, Any]:
            if isinstance(piece, dict):
                out = chunk("")
                out["message"]["tool_calls"] = piece["__calls__"]
                return out
            return chunk(piece)

        self._stream_ndjson(pieces_and_calls, make, final)

    # ------------------------------------------------------------------ embeddings

    def embed(self, body: dict[str, Any]) -> None:
        spec = self._model(body)
        if spec is None:
            return
        raw = body.get("input", "")
        inputs = [raw] if isinstance(raw, str) else list(raw)
        dim = spec.embedding_length or self.standin.config.embedding_dim
        self.send_json(
            200,
            {
                "model": body["model"],
                "embeddings": [embedding(str(t), dim) for t in inputs],
                "total_duration": 1000,
                "load_duration": 0,
                "prompt_eval_count": sum(len(tokens(str(t))) for t in inputs),
            },
        )

    def embeddings(self, body: dict[str, Any]) -> None:
        spec = self._model(body)
        if spec is None:
            return
        dim = spec.embedding_length or self.standin.config.embedding_dim
        self.send_json(200, {"embedding": embedding(str(body.get("prompt", "")), dim)})

    # ------------------------------------------------------------------ models

    def show(self, body: dict[str, Any]) -> None:
        name = str(body.get("model") or body.get("name") or "")
        spec = self.standin.find_model(name)
        if spec is None:
            self.send_json(404, {"error": f"model '{name}' not found"})
            return
        family = spec.family
        dim = spec.embedding_length or (
            self.standin.config.embedding_dim if spec.embedding else 1536
        )
        capabilities = (
            ["embedding"] if spec.embedding else ["completion"] + (["insert"] if spec.fim else [])
        )
        if "instruct" in name or "chat" in name:
            capabilities.append("tools")
        template = (
            FIM_TEMPLATE if spec.fim else (CHAT_TEMPLATE if "instruct" in name else PLAIN_TEMPLATE)
        )
        self.send_json(
            200,
            {
                "license": "stand-in",
                "modelfile": f"FROM {name}\nTEMPLATE {json.dumps(template)}\n",
                "parameters": 'stop "<|endoftext|>"',
                "template": template,
                "details": {
                    "parent_model": "",
                    "format": "gguf",
                    "family": family,
                    "families": [family],
                    "parameter_size": "1.5B",
                    "quantization_level": "Q4_K_M",
                },
                "model_info": {
                    "general.architecture": family,
                    "general.parameter_count": 1_500_000_000,
                    f"{family}.context_length": 32768,
                    f"{family}.embedding_length": dim,
                },
                "capabilities": capabilities,
                "modified_at": _now(),
            },
        )

    def tags(self, body: dict[str, Any]) -> None:
        models = []
        for spec in self.standin.listed_models():
            name = spec.name if ":" in spec.name else f"{spec.name}:latest"
            models.append(
                {
                    "name": name,
                    "model": name,
                    "modified_at": _now(),
                    "size": 986_000_000,
                    "digest": "0" * 64,
                    "details": {
                        "parent_model": "",
                        "format": "gguf",
                        "family": spec.family,
                        "families": [spec.family],
                        "parameter_size": "1.5B",
                        "quantization_level": "Q4_K_M",
                    },
                }
            )
        self.send_json(200, {"models": models})

    def version(self, body: dict[str, Any]) -> None:
        self.send_json(200, {"version": "0.12.0"})

    def ps(self, body: dict[str, Any]) -> None:
        self.send_json(200, {"models": []})

    def root(self, body: dict[str, Any]) -> None:
        data = b"Ollama is running"
        self.rec.status = 200
        self.rec.finished = True
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


class OllamaStandin(StandinServer):
    """An Ollama stand-in; ``with OllamaStandin(replies=[...]) as ollama: ollama.url``."""

    kind = "ollama"
    handler_class = OllamaHandler
    default_models = ("qwen2.5-coder:1.5b-base", "qwen2.5-coder:7b-instruct", "nomic-embed-text")
    model_paths = ("/api/generate", "/api/chat", "/api/embed", "/api/embeddings")


if __name__ == "__main__":
    sys.exit(serve_main(OllamaStandin))
