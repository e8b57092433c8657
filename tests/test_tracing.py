"""OpenTelemetry tracing middleware: producer and consumer spans, one trace, errors, optional import."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import anyio
import pytest
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from aioresque import Call, JobContext, PerformNext, Queue, Worker
from aioresque._connect import Client
from aioresque.tracing import MESSAGING_SYSTEM, TracingMiddleware
from tests import jobs_for_tests


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    yield exporter
    exporter.shutdown()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    # A provider of the test's own: the global one can be set only once per process.
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def tracing(provider: TracerProvider) -> TracingMiddleware:
    return TracingMiddleware(tracer_provider=provider)


def _traced_queue(redis: Client, prefix: str, tracing: TracingMiddleware) -> Queue:
    return Queue(redis, "default", prefix=prefix, middleware=[tracing.enqueue])


async def _drain(queue: Queue, tracing: TracingMiddleware) -> None:
    with anyio.fail_after(20):
        await Worker(queue, jobs_for_tests, burst=True, middleware=[tracing.perform]).run()


def _of_kind(exporter: InMemorySpanExporter, kind: SpanKind) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.kind is kind]


def _ids(span: ReadableSpan) -> tuple[int, int]:
    assert span.context is not None
    return span.context.trace_id, span.context.span_id


async def test_the_worker_span_is_a_child_of_the_producer_span(
    redis: Client, prefix: str, tracing: TracingMiddleware, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    queue = _traced_queue(redis, prefix, tracing)
    with provider.get_tracer("app").start_as_current_span("POST /signup") as request:
        job = await queue.enqueue("add", 2, 3, _job_id="j1")
    await _drain(queue, tracing)
    assert await job.result(timeout=1) == 5

    [producer] = _of_kind(exporter, SpanKind.PRODUCER)
    [consumer] = _of_kind(exporter, SpanKind.CONSUMER)
    trace_id, producer_id = _ids(producer)
    assert producer.parent is not None and producer.parent.span_id == request.get_span_context().span_id
    assert trace_id == request.get_span_context().trace_id
    assert consumer.parent is not None and consumer.parent.span_id == producer_id
    assert _ids(consumer)[0] == trace_id
    assert consumer.parent.is_remote  # it came through Redis, in the job's meta

    assert producer.name == "enqueue add" and consumer.name == "process add"
    assert dict(producer.attributes or {}) == {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.operation.type": "send",
        "messaging.operation.name": "enqueue",
        "messaging.destination.name": "default",
        "messaging.message.id": "j1",
        "aioresque.job.name": "add",
    }
    attributes = dict(consumer.attributes or {})
    assert attributes.pop("messaging.client.id")  # the worker's id
    assert attributes == {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": "default",
        "messaging.message.id": "j1",
        "aioresque.job.name": "add",
        "aioresque.job.attempt": 1,
    }
    assert consumer.status.status_code is StatusCode.UNSET and not consumer.events


async def test_a_failing_job_span_has_error_status_and_an_exception_event(
    redis: Client, prefix: str, tracing: TracingMiddleware, exporter: InMemorySpanExporter
) -> None:
    queue = _traced_queue(redis, prefix, tracing)
    await queue.enqueue("fails_with", 7, _job_id="bad")
    await _drain(queue, tracing)
    assert (await queue.job("bad").status()).value == "failed"

    [consumer] = _of_kind(exporter, SpanKind.CONSUMER)
    assert consumer.status.status_code is StatusCode.ERROR
    assert consumer.status.description == "LookupError: no row 7 in table t1"
    assert (consumer.attributes or {})["error.type"] == "LookupError"
    [event] = consumer.events
    assert event.name == "exception"
    assert (event.attributes or {})["exception.type"] == "LookupError"
    assert "no row 7" in str((event.attributes or {})["exception.message"])
    assert "raise LookupError" in str((event.attributes or {})["exception.stacktrace"])
    [producer] = _of_kind(exporter, SpanKind.PRODUCER)
    assert producer.status.status_code is StatusCode.UNSET  # the enqueue itself went fine


async def test_an_attempt_that_times_out_is_an_error_without_an_exception_event(
    redis: Client, prefix: str, tracing: TracingMiddleware, exporter: InMemorySpanExporter
) -> None:
    queue = _traced_queue(redis, prefix, tracing)
    await queue.enqueue("too_slow", _job_id="slow")
    await _drain(queue, tracing)
    [consumer] = _of_kind(exporter, SpanKind.CONSUMER)
    assert consumer.status.status_code is StatusCode.ERROR
    assert "interrupted" in (consumer.status.description or "")
    assert (consumer.attributes or {})["error.type"] == "asyncio.exceptions.CancelledError"
    assert not consumer.events


async def test_a_handler_raising_system_exit_fails_its_span_with_the_exception(
    redis: Client, prefix: str, tracing: TracingMiddleware, exporter: InMemorySpanExporter
) -> None:
    queue = _traced_queue(redis, prefix, tracing)
    await queue.enqueue("raises_system_exit")
    await _drain(queue, tracing)
    [consumer] = _of_kind(exporter, SpanKind.CONSUMER)
    assert consumer.status.status_code is StatusCode.ERROR
    assert (consumer.attributes or {})["error.type"] == "SystemExit"
    assert [e.name for e in consumer.events] == ["exception"]


async def test_enqueue_many_gives_one_span_per_job(
    redis: Client, prefix: str, tracing: TracingMiddleware, exporter: InMemorySpanExporter
) -> None:
    queue = _traced_queue(redis, prefix, tracing)
    jobs = await queue.enqueue_many([Call("add", (i, i)) for i in range(3)] + [Call("add", (1, 1), queue="other")])
    producers = _of_kind(exporter, SpanKind.PRODUCER)
    assert len(producers) == 4
    # Ids made by the queue (the calls named none) are on the spans.
    assert [(p.attributes or {})["messaging.message.id"] for p in producers] == [j.id for j in jobs]
    assert [(p.attributes or {})["messaging.destination.name"] for p in producers] == ["default"] * 3 + ["other"]
    assert len({_ids(p)[0] for p in producers}) == 4  # no enclosing span: a trace per job

    await _drain(queue, tracing)
    consumers = _of_kind(exporter, SpanKind.CONSUMER)
    assert len(consumers) == 3  # the worker runs "default" only
    by_id = {(p.attributes or {})["messaging.message.id"]: p for p in producers}
    for consumer in consumers:
        producer = by_id[(consumer.attributes or {})["messaging.message.id"]]
        assert consumer.parent is not None and (consumer.parent.trace_id, consumer.parent.span_id) == _ids(producer)


async def test_jobs_from_an_untraced_producer_start_their_own_trace(
    queue: Queue, tracing: TracingMiddleware, exporter: InMemorySpanExporter
) -> None:
    await queue.enqueue("add", 1, 1)
    await _drain(queue, tracing)
    [consumer] = exporter.get_finished_spans()
    assert consumer.kind is SpanKind.CONSUMER and consumer.parent is None


async def test_a_custom_propagator_writes_only_its_fields_into_the_meta(
    redis: Client, prefix: str, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    propagator: TextMapPropagator = TraceContextTextMapPropagator()
    tracing = TracingMiddleware(tracer_provider=provider, propagator=propagator)
    assert repr(tracing) == "<TracingMiddleware propagator=TraceContextTextMapPropagator>"
    queue = _traced_queue(redis, prefix, tracing)
    await queue.enqueue("context", _job_id="c1")
    seen: list[dict[str, str]] = []

    async def keep_meta(ctx: JobContext, call_next: PerformNext) -> object:
        seen.append(dict(ctx.meta))
        return await call_next()

    with anyio.fail_after(20):
        await Worker(queue, jobs_for_tests, burst=True, middleware=[keep_meta, tracing.perform]).run()
    [meta] = seen
    assert set(meta) == {"traceparent"}
    [producer] = _of_kind(exporter, SpanKind.PRODUCER)
    trace_id, span_id = _ids(producer)
    assert meta["traceparent"].split("-")[1:3] == [f"{trace_id:032x}", f"{span_id:016x}"]


def test_aioresque_imports_without_opentelemetry_and_tracing_names_the_extra() -> None:
    code = (
        "import sys\n"
        "sys.modules['opentelemetry'] = None  # as if it were not installed\n"
        "import aioresque\n"
        "assert 'aioresque.tracing' not in sys.modules\n"
        "aioresque.Queue.from_url('redis://localhost:1/0')\n"
        "try:\n"
        "    import aioresque.tracing\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "pip install 'aioresque[otel]'" in done.stdout


async def test_the_example_traces_a_request_its_enqueue_and_the_job(
    redis_url: str, prefix: str, exporter: InMemorySpanExporter
) -> None:
    from examples import tracing as example

    assert await example.main(redis_url, prefix, exporter) == "image 7 resized"
    request, producer, consumer = sorted(exporter.get_finished_spans(), key=lambda s: s.start_time or 0)
    assert [request.name, producer.name, consumer.name] == [
        "POST /images",
        "enqueue resize_image",
        "process resize_image",
    ]
    assert producer.parent is not None and producer.parent.span_id == _ids(request)[1]
    assert consumer.parent is not None and consumer.parent.span_id == _ids(producer)[1]
    assert len({_ids(s)[0] for s in (request, producer, consumer)}) == 1
