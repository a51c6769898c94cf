"""Metrics: quantiles from histogram buckets, the mimi.status summary, and multiprocess
aggregation as ``mimi-lsp web`` uses it (real child processes writing one directory)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from mimi_lsp import metrics
from mimi_lsp.metrics import MultiprocessMetrics, histogram_quantile, process_tree_rss

ROOT = Path(__file__).resolve().parents[2]


def test_quantile_interpolates_inside_a_bucket() -> None:
    """Like PromQL's histogram_quantile: linear inside the bucket holding the rank."""
    buckets = [(0.01, 0.0), (0.1, 100.0), (1.0, 100.0), (float("inf"), 100.0)]
    assert abs(histogram_quantile(buckets, 0.5) - 0.055) < 1e-9
    assert histogram_quantile([], 0.5) == 0.0
    assert histogram_quantile([(1.0, 0.0), (float("inf"), 0.0)], 0.9) == 0.0


def test_quantile_beyond_the_last_bucket_is_its_bound() -> None:
    """Observations above every finite bucket report the largest finite bound."""
    assert histogram_quantile([(1.0, 0.0), (float("inf"), 5.0)], 0.99) == 1.0


def test_summary_reports_latency_cache_tokens_and_batches() -> None:
    """The mimi.status figures follow what was recorded (deltas, the registry is global)."""
    before = metrics.summary()
    metrics.observe_request("chat", 0.2)
    metrics.observe_request("chat", 0.4, "error")
    metrics.observe_request("chat", 5.0, "cancelled")  # counted, not timed
    metrics.count_cache(True)
    metrics.count_cache(False)
    metrics.record_generation("chat", "fake", 50, 0.5)
    metrics.observe_batch("embed", 16)
    after = metrics.summary()
    chat = after["latencyMs"]["chat"]
    assert chat["count"] == before["latencyMs"]["chat"]["count"] + 2
    assert 100 <= chat["p50"] <= 500
    assert (
        after["requests"]["chat"]["cancelled"]
        == before["requests"].get("chat", {}).get("cancelled", 0) + 1
    )
    assert after["cache"]["hits"] == before["cache"]["hits"] + 1
    assert 0 < after["cache"]["hitRate"] < 1
    assert after["tokensPerSecond"]["chat"] > 0
    assert after["batchSizes"]["embed"]["count"] >= 1


def test_recording_never_raises() -> None:
    """Odd input is swallowed: metrics must never break a request."""
    metrics.observe_request("completion", -1.0)
    metrics.observe_batch("embed", -3)
    metrics.record_generation("chat", "x", 0, 0.0)


def test_process_tree_rss_counts_children() -> None:
    """The resident memory of a process and its children, and how many there are."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        rss, count = process_tree_rss(os.getpid())
        alone, _ = process_tree_rss(child.pid)
        assert count >= 2 and rss > alone > 0
    finally:
        child.kill()
        child.wait()


WRITER = textwrap.dedent(
    """
    from mimi_lsp import metrics
    metrics.observe_request("completion", 0.004)
    metrics.observe_request("completion", 0.008)
    metrics.count_cache(True)
    metrics.instruments().queue.labels("ollama", "inline").set(3)
    print("done", flush=True)
    import sys; sys.stdin.read()
    """
)


def test_web_metrics_sum_every_server_process() -> None:
    """Two language-server-like processes write one directory; /metrics sums them, and a
    dead process's gauges leave while its counters stay."""
    store = MultiprocessMetrics()
    env = store.child_env({**os.environ, "PYTHONPATH": str(ROOT)})
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "done"
        store.sessions, store.sessions_total = 2, 2
        families = {f.name: f for f in text_string_to_metric_families(store.render()[0].decode())}
        count = [
            s
            for s in families["mimi_request_duration_seconds"].samples
            if s.name.endswith("_count")
        ]
        assert count[0].value == 4
        queue = families["mimi_scheduler_queue_depth"].samples
        assert [s.value for s in queue if s.labels["priority"] == "inline"] == [6]
        assert families["mimi_web_sessions"].samples[0].value == 2
        assert families["mimi_web_resident_memory_bytes"].samples[0].value > 0

        procs[0].communicate("")
        store.process_dead(procs[0].pid)
        families = {f.name: f for f in text_string_to_metric_families(store.render()[0].decode())}
        queue = families["mimi_scheduler_queue_depth"].samples
        assert [s.value for s in queue if s.labels["priority"] == "inline"] == [3]
        hits = [s for s in families["mimi_completion_cache"].samples if s.name.endswith("_total")]
        assert hits[0].value == 2  # the ended session's counters stay in the totals
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.communicate("")
        store.close()
    assert not os.path.exists(store.directory)
