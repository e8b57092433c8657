"""A worker's own metrics: attempts and durations by handler, served with --metrics-port."""

from __future__ import annotations

import contextlib
import socket
import time

import anyio
import httpx

from aioresque import Queue, Worker, WorkerMetrics
from aioresque._metrics_server import response
from tests import jobs_for_tests
from tests.cli_helpers import spawned, worker_command


def test_histogram_buckets_are_cumulative() -> None:
    m = WorkerMetrics()
    m.observe("q", "send", "complete", 0.003)
    m.observe("q", "send", "complete", 0.2)
    m.observe("q", "send", "fail", 1000.0)
    text = m.render(in_flight=2)
    assert 'aioresque_worker_attempts_total{queue="q",job="send",outcome="complete"} 2' in text
    assert 'aioresque_worker_attempts_total{queue="q",job="send",outcome="fail"} 1' in text
    assert 'aioresque_job_duration_seconds_bucket{queue="q",job="send",le="0.005"} 1' in text
    assert 'aioresque_job_duration_seconds_bucket{queue="q",job="send",le="0.25"} 2' in text
    assert 'aioresque_job_duration_seconds_bucket{queue="q",job="send",le="300.0"} 2' in text
    assert 'aioresque_job_duration_seconds_bucket{queue="q",job="send",le="+Inf"} 3' in text
    assert 'aioresque_job_duration_seconds_count{queue="q",job="send"} 3' in text
    assert "aioresque_worker_jobs_in_flight 2" in text
    assert m.attempts("q", "send", "complete") == 2


def test_response_is_plain_http() -> None:
    assert response("200 OK", "x 1\n").startswith(b"HTTP/1.0 200 OK\r\n")
    assert response("200 OK", "x 1\n").endswith(b"\r\n\r\nx 1\n")


async def test_worker_counts_attempts_by_handler(queue: Queue) -> None:
    await queue.enqueue("add", 1, 2)
    await queue.enqueue("always_fails", _max_attempts=1)
    worker = Worker(queue, jobs_for_tests, burst=True)
    with anyio.fail_after(20):
        await worker.run()
    assert worker.metrics.attempts("default", "add", "complete") == 1
    assert worker.metrics.attempts("default", "always_fails", "fail") == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_metrics_port_serves_prometheus_text(queue: Queue, redis_url: str, prefix: str) -> None:
    port = _free_port()
    await queue.enqueue("add", 2, 2)
    with spawned(worker_command(redis_url, prefix, "--metrics-port", str(port))):
        deadline = time.monotonic() + 20
        text = ""
        async with httpx.AsyncClient() as client:
            while 'job="add",outcome="complete"} 1' not in text:
                assert time.monotonic() < deadline, text
                with contextlib.suppress(httpx.TransportError):  # not listening yet
                    text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
                await anyio.sleep(0.1)
    assert "# TYPE aioresque_job_duration_seconds histogram" in text
    assert "aioresque_worker_jobs_in_flight 0" in text
