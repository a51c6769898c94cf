"""Starting and stopping the CPU Triton stand-in (``pytriton_server.py``) for tests and benchmarks.

``TritonProcess`` runs the script in its own process on free loopback ports and waits for its
``READY`` line; ``stats()``/``reset()`` read what the models actually saw through the ``stats``
model. Used by the session fixture in ``tests/triton/conftest.py`` and by
``benchmarks/batching.py``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).with_name("pytriton_server.py")


def pytriton_missing() -> str | None:
    """Why the stand-in cannot run here (None when it can)."""
    try:
        import pytriton  # noqa: F401
        import tritonclient.grpc.aio  # noqa: F401
    except ImportError as exc:
        return f"nvidia-pytriton/tritonclient not installed ({exc}); run `make setup-triton`"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TritonProcess:
    """A pytriton server in a child process, bound to 127.0.0.1."""

    def __init__(
        self, *, embedder: bool = True, log_path: Path | None = None, log_verbose: int = 0
    ) -> None:
        self.log_verbose = log_verbose
        self.triton_log: Path | None = None
        self.grpc_port = free_port()
        self.http_port = free_port()
        self.embedder = embedder
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    def start(self, timeout_s: float = 240.0) -> TritonProcess:
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "LD_LIBRARY_PATH": ":".join(
                p
                for p in (sysconfig.get_config_var("LIBDIR"), os.environ.get("LD_LIBRARY_PATH"))
                if p
            ),
        }
        cmd = [
            sys.executable,
            str(SCRIPT),
            "--grpc-port",
            str(self.grpc_port),
            "--http-port",
            str(self.http_port),
        ]
        if not self.embedder:
            cmd.append("--no-embedder")
        if self.log_verbose:
            # Verbose logs go to a file of their own: Triton's cancellation notices land there.
            self.triton_log = Path(tempfile.mkdtemp(prefix="mimi-triton-")) / "triton.log"
            cmd += ["--log-verbose", str(self.log_verbose), "--log-file", str(self.triton_log)]
        log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, env=env)
        ready = threading.Event()

        def watch() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                if line.strip() == b"READY":
                    ready.set()

        threading.Thread(target=watch, daemon=True).start()
        deadline = time.monotonic() + timeout_s
        while not ready.wait(0.2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"the pytriton stand-in did not start (see {self.log_path or 'its stderr'})"
                )
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def _stats_call(self, command: str) -> dict[str, Any]:
        import numpy as np
        import tritonclient.http as httpclient

        client = httpclient.InferenceServerClient(self.http_url)
        try:
            tensor = httpclient.InferInput("text_input", [1, 1], "BYTES")
            tensor.set_data_from_numpy(np.array([[command.encode()]], dtype=np.object_))
            result = client.infer("stats", [tensor])
            return json.loads(result.as_numpy("text_output").reshape(-1)[0])
        finally:
            client.close()

    def triton_log_text(self) -> str:
        """Triton's own (verbose) log so far."""
        if self.triton_log is None or not self.triton_log.exists():
            return ""
        return self.triton_log.read_text(errors="replace")

    def stats(self) -> dict[str, Any]:
        """Batch sizes each model saw, and stream bookkeeping."""
        return self._stats_call("get")

    def reset(self) -> None:
        self._stats_call("reset")
