"""Triton Python-backend model: sentence-transformers embeddings, BYTES [n, 1] -> FP32 [n, dim].

Every request in a dynamic batch is encoded in one forward pass, on this instance's GPU
(``KIND_GPU``) or the CPU. The sentence-transformers model comes from the ``model_name``
parameter in config.pbtxt (a hub name, or a path mounted into the container).
"""

import ctypes
import ctypes.util
import json

import numpy as np
import triton_python_backend_utils as pb_utils  # provided by Triton's Python backend


def keep_freed_memory():
    """On a CPU instance: keep a forward pass's buffers instead of returning them to the kernel.

    glibc serves every buffer over 128 KiB from a fresh ``mmap`` and trims the heap's free top,
    so each CPU forward pass page-faults its activations back in (~5,000 faults for 16 short
    snippets). Fixed mmap and trim thresholds end that. On 2 CPU cores: a 16-text MiniLM batch
    74.6 -> 65.8 ms, one text unchanged (in one process, as the stand-in in tests/triton does);
    this model on a plain tritonserver (KIND_CPU, 16 scheduled callers, rounds of 160 calls
    without a Triton stall): 225-238 -> 243-258 texts/s. On the GPU the activations live in
    CUDA memory, so it is not needed there.
    """
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return  # not glibc
    mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: glibc's maximum
    mallopt(-1, 512 << 20)  # M_TRIM_THRESHOLD


class TritonPythonModel:
    def initialize(self, args):
        from sentence_transformers import SentenceTransformer

        config = json.loads(args["model_config"])
        name = config.get("parameters", {}).get("model_name", {}).get(
            "string_value", "sentence-transformers/all-MiniLM-L6-v2"
        )
        device = "cpu"
        if args.get("model_instance_kind") == "GPU":
            device = f"cuda:{args['model_instance_device_id']}"
        else:
            keep_freed_memory()
        self.model = SentenceTransformer(name, device=device)

    def execute(self, requests):
        sizes, texts = [], []
        for request in requests:
            values = pb_utils.get_input_tensor_by_name(request, "text").as_numpy().reshape(-1)
            sizes.append(len(values))
            texts.extend(v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values)
        vectors = self.model.encode(
            texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True
        ).astype(np.float32)
        responses, start = [], 0
        for size in sizes:
            tensor = pb_utils.Tensor("embedding", vectors[start : start + size])
            responses.append(pb_utils.InferenceResponse(output_tensors=[tensor]))
            start += size
        return responses
