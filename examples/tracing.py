"""Tracing with OpenTelemetry: one trace from the request that enqueues a job to each attempt of it."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor, SpanExporter

import aioresque
from aioresque.tracing import TracingMiddleware


@aioresque.job
async def resize_image(image_id: int) -> str:
    return f"image {image_id} resized"


async def main(redis_url: str, prefix: str = "aioresque", exporter: SpanExporter | None = None) -> str:
    # In an application: configure the SDK once, trace.set_tracer_provider(provider),
    # and use TracingMiddleware() without arguments.
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter or ConsoleSpanExporter()))
    tracing = TracingMiddleware(tracer_provider=provider)

    queue = aioresque.Queue.from_url(redis_url, prefix=prefix, middleware=[tracing.enqueue])
    async with queue:
        with provider.get_tracer("app").start_as_current_span("POST /images"):  # e.g. your web framework's span
            job = await resize_image.enqueue(queue, 7)
        async with aioresque.Worker(queue, [resize_image], middleware=[tracing.perform]):
            result = await job.result(timeout=5)
    provider.shutdown()
    return result
