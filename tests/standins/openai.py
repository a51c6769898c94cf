"""A stand-in OpenAI-compatible server (llama.cpp server / vLLM / LM Studio shape) on 127.0.0.1.

Endpoints: ``POST /v1/completions`` (``prompt`` + optional ``suffix``; SSE streaming with
``data: [DONE]``), ``POST /v1/chat/completions`` (SSE; tool calls streamed as the official API
does: id and name first, then argument fragments), ``POST /v1/embeddings`` (float or base64),
``GET /v1/models``. With ``api_key`` set, requests without ``Authorization: Bearer <key>`` get
401. Unknown models get 404 ``model_not_found``; ``suffix_supported=False`` answers a
``suffix`` with vLLM's 400.

    python -m tests.standins.openai --port 8001 --reply "return a + b" --api-key secret
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from tests.standins.common import (
    ModelSpec,
    Recorded,
    StandinHandler,
    StandinServer,
    cut_at_stop,
    embedding,
    embedding_base64,
    serve_main,
    tokens,
)


def _error(message: str, kind: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class OpenAIHandler(StandinHandler):
    routes = {
        ("POST", "/v1/completions"): "completions",
        ("POST", "/v1/chat/completions"): "chat_completions",
        ("POST", "/v1/embeddings"): "embeddings",
        ("GET", "/v1/models"): "models",
    }

    def error_body(self, message: str, status: int) -> Any:
        return _error(message, "server_error" if status >= 500 else "invalid_request_error")

    def not_found_body(self, path: str) -> Any:
        return _error(f"Unknown request URL: {path}", "invalid_request_error", "unknown_url")

    def _dispatch(self, method: str) -> None:
        key = self.standin.config.api_key
        if key and not self.path.startswith("/_standin/"):
            if self.headers.get("Authorization") != f"Bearer {key}":
                # Record it like any request, then refuse it.
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                self.rec = Recorded(
                    method, self.path, {k.lower(): v for k, v in self.headers.items()}, None
                )
                self.standin.record(self.rec)
                self.send_json(
                    401,
                    _error(
                        "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
                    ),
                )
                return
        super()._dispatch(method)

    def _model(self, body: dict[str, Any]) -> ModelSpec | None:
        name = str(body.get("model") or "")
        spec = self.standin.find_model(name)
        if spec is None:
            self.send_json(
                404,
                _error(
                    f"The model `{name}` does not exist.",
                    "invalid_request_error",
                    "model_not_found",
                ),
            )
        return spec

    def _sse(self, pieces: list[Any], make: Any, finals: list[dict[str, Any]]) -> None:
        self.start_stream("text/event-stream")

        def frame(obj: Any) -> bytes:
            return f"data: {json.dumps(obj)}\n\n".encode()

        self.stream_pieces(
            pieces,
            lambda piece: frame(make(piece)),
            garbage=b"data: {this is not json\n\n",
            trailer=lambda: [*(frame(f) for f in finals), b"data: [DONE]\n\n"],
        )

    # ------------------------------------------------------------------ completions

    def completions(self, body: dict[str, Any]) -> None:
        if self._model(body) is None:
            return
        model = body["model"]
        prompt = body.get("prompt") or ""
        if isinstance(prompt, list):
            prompt = "".join(str(p) for p in prompt)
        if body.get("suffix") is not None and not self.standin.config.suffix_supported:
            self.send_json(400, _error("suffix is not currently supported", "BadRequestError"))
            return
        text, _ = cut_at_stop(self.standin.pick_reply(str(prompt)), body.get("stop"))
        pieces = tokens(text)
        limit = body.get("max_tokens")
        reason = "stop"
        if isinstance(limit, int) and len(pieces) > limit:
            pieces, reason = pieces[:limit], "length"
        ident = self.standin.next_id("cmpl-")
        created = int(time.time())

        def chunk(piece: str, finish: str | None = None) -> dict[str, Any]:
            return {
                "id": ident,
                "object": "text_completion",
                "created": created,
                "model": model,
                "choices": [{"text": piece, "index": 0, "logprobs": None, "finish_reason": finish}],
            }

        if not body.get("stream"):
            out = chunk("".join(pieces), reason)
            out["usage"] = {
                "prompt_tokens": len(tokens(str(prompt))),
                "completion_tokens": len(pieces),
                "total_tokens": 0,
            }
            self.send_json(200, out)
            return
        self._sse(pieces, chunk, [chunk("", reason)])

    def chat_completions(self, body: dict[str, Any]) -> None:
        if self._model(body) is None:
            return
        model = body["model"]
        turn = self.standin.pick_turn(list(body.get("messages") or []))
        text, _ = cut_at_stop(turn.text, body.get("stop"))
        pieces = tokens(text)
        ident = self.standin.next_id("chatcmpl-")
        created = int(time.time())
        calls: list[dict[str, Any]] = [
            {
                "id": call.id or self.standin.next_id("call_"),
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in turn.tool_calls
        ]
        reason = "tool_calls" if calls else "stop"

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }

        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": text or None}
            if calls:
                message["tool_calls"] = calls
            self.send_json(
                200,
                {
                    "id": ident,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": reason}],
                    "usage": {
                        "prompt_tokens": 1,
                        "completion_tokens": len(pieces),
                        "total_tokens": 1 + len(pieces),
                    },
                },
            )
            return

        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
        deltas += [{"content": piece} for piece in pieces]
        for index, call in enumerate(calls):
            deltas.append(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": call["function"]["name"], "arguments": ""},
                        }
                    ]
                }
            )
            args = call["function"]["arguments"]
            for start in range(0, len(args), 7):  # argument JSON in fragments, as streamed
                deltas.append(
                    {
                        "tool_calls": [
                            {"index": index, "function": {"arguments": args[start : start + 7]}}
                        ]
                    }
                )
        self._sse(deltas, chunk, [chunk({}, reason)])

    # ------------------------------------------------------------------ embeddings, models

    def embeddings(self, body: dict[str, Any]) -> None:
        spec = self._model(body)
        if spec is None:
            return
        raw = body.get("input", "")
        inputs = [raw] if isinstance(raw, str) else list(raw)
        dim = int(
            body.get("dimensions") or spec.embedding_length or self.standin.config.embedding_dim
        )
        as_b64 = body.get("encoding_format") == "base64"
        data = []
        for i, text in enumerate(inputs):
            vec = embedding(str(text), dim)
            data.append(
                {
                    "object": "embedding",
                    "index": i,
                    "embedding": embedding_base64(vec) if as_b64 else vec,
                }
            )
        self.send_json(
            200,
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)},
            },
        )

    def models(self, body: dict[str, Any]) -> None:
        self.send_json(
            200,
            {
                "object": "list",
                "data": [
                    {
                        "id": spec.name,
                        "object": "model",
                        "created": 0,
                        "owned_by": self.standin.config.owned_by,
                    }
                    for spec in self.standin.listed_models()
                ],
            },
        )


class OpenAIStandin(StandinServer):
    """An OpenAI-compatible stand-in; its ``base_url`` ends in ``/v1``."""

    kind = "openai"
    handler_class = OpenAIHandler
    default_models = ("qwen2.5-coder-1.5b", "qwen2.5-coder-7b-instruct", "text-embedding-3-small")
    model_paths = ("/v1/completions", "/v1/chat/completions", "/v1/embeddings")

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"


if __name__ == "__main__":
    sys.exit(serve_main(OpenAIStandin))
