"""OpenTelemetry tracing: a span per enqueue and per job attempt, one trace from producer to worker.

Needs the ``otel`` extra (``pip install 'aioresque[otel]'``, which brings
``opentelemetry-api``); the application configures the SDK and exporters as
usual. One :class:`TracingMiddleware` supplies both halves::

    from aioresque.tracing import TracingMiddleware

    tracing = TracingMiddleware()
    queue = aioresque.Queue.from_url(url, middleware=[tracing.enqueue])
    worker = aioresque.Worker(queue, jobs, middleware=[tracing.perform])

* :meth:`TracingMiddleware.enqueue` wraps each enqueue in a ``PRODUCER``
  span and writes the span's context into the job's ``meta`` with the
  configured propagator (W3C ``traceparent``/``tracestate``, plus
  ``baggage``, by default), so it travels in the payload.
* :meth:`TracingMiddleware.perform` extracts that context and runs each
  attempt in a ``CONSUMER`` span whose parent is the producer's span: the
  request that enqueued a job and every attempt of it share one trace.

Spans are named ``enqueue <job name>`` and ``process <job name>`` and carry
the messaging attributes of OpenTelemetry's semantic conventions
(``messaging.system="aioresque"``, ``messaging.destination.name`` = queue,
``messaging.message.id`` = job id) plus ``aioresque.job.name`` and, on
worker spans, ``aioresque.job.attempt``. A failed attempt's span records
the exception and has status ``ERROR``; see ``docs/tracing.md``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anyio

try:
    from opentelemetry import propagate, trace
    from opentelemetry.context import Context
    from opentelemetry.propagators.textmap import TextMapPropagator
    from opentelemetry.trace import Span, SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by tests/test_tracing.py
    raise ImportError(
        "aioresque.tracing needs OpenTelemetry: install the extra with pip install 'aioresque[otel]'"
    ) from exc

from . import __version__

if TYPE_CHECKING:
    from ._context import JobContext
    from ._job import Job
    from ._middleware import EnqueueNext, PerformNext
    from ._queue import Call

MESSAGING_SYSTEM = "aioresque"
"""The value of ``messaging.system`` on every span."""

_INTERRUPTED = "the attempt was interrupted (timeout, cancel, lost lease or shutdown)"


class TracingMiddleware:
    """Enqueue and perform middleware that trace jobs with OpenTelemetry.

    Install :meth:`enqueue` on the queues that produce jobs and
    :meth:`perform` on the workers that run them; either works alone (a
    worker without traced producers starts a new trace per attempt, or
    continues the context current around the worker).
    """

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        propagator: TextMapPropagator | None = None,
    ) -> None:
        """Configure where spans go and how their context travels.

        Args:
            tracer_provider: the provider to take the tracer from; default
                the global one (``opentelemetry.trace.set_tracer_provider``),
                looked up when a span starts, so setting it later works.
            propagator: how the context is written to and read from the
                job's meta; default the global one
                (``opentelemetry.propagate``: W3C trace context and baggage
                unless configured otherwise).
        """
        self._tracer = trace.get_tracer(__name__, __version__, tracer_provider)
        self._propagator = propagator

    def __repr__(self) -> str:
        propagator = "global" if self._propagator is None else type(self._propagator).__name__
        return f"<TracingMiddleware propagator={propagator}>"

    async def enqueue(self, call: Call, call_next: EnqueueNext) -> Job[Any]:
        """Enqueue ``call`` inside a ``PRODUCER`` span whose context rides in the job's meta.

        Whatever the enqueue raises is recorded on the span and raised again.
        """
        attributes: dict[str, str] = {
            "messaging.system": MESSAGING_SYSTEM,
            "messaging.operation.type": "send",
            "messaging.operation.name": "enqueue",
            "aioresque.job.name": call.name,
        }
        if call.queue is not None:
            attributes["messaging.destination.name"] = call.queue
        if call.job_id is not None:
            attributes["messaging.message.id"] = call.job_id
        with self._tracer.start_as_current_span(
            f"enqueue {call.name}",
            kind=SpanKind.PRODUCER,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            carrier: dict[str, str] = {}
            self._inject(carrier)
            traced = dataclasses.replace(call, meta={**(call.meta or {}), **carrier}) if carrier else call
            try:
                job = await call_next(traced)
            except Exception as exc:
                _failed(span, exc)
                raise
            # The queue and id are known for sure only once the job exists
            # (a call without them goes to the queue's own name, a fresh id).
            span.set_attribute("messaging.destination.name", job.queue.name)
            span.set_attribute("messaging.message.id", job.id)
            return job

    async def perform(self, ctx: JobContext, call_next: PerformNext) -> Any:
        """Run one attempt inside a ``CONSUMER`` span, child of the enqueue's span when its context came along.

        Whatever the handler raises is recorded on the span and raised again.
        """
        parent = self._extract(ctx.meta)
        with self._tracer.start_as_current_span(
            f"process {ctx.name}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": MESSAGING_SYSTEM,
                "messaging.operation.type": "process",
                "messaging.operation.name": "process",
                "messaging.destination.name": ctx.queue.name,
                "messaging.message.id": ctx.job_id,
                "messaging.client.id": ctx.worker_id,
                "aioresque.job.name": ctx.name,
                "aioresque.job.attempt": ctx.attempt,
            },
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                return await call_next()
            except Exception as exc:
                _failed(span, exc)
                raise
            except BaseException as exc:
                if not isinstance(exc, anyio.get_cancelled_exc_class()):
                    _failed(span, exc)  # SystemExit, KeyboardInterrupt: the job fails with them
                    raise
                # Cancellation is not the handler's exception: no exception
                # event, but the attempt did not complete, and a timeout
                # counts as a failure of the job.
                span.set_attribute("error.type", _type_name(exc))
                span.set_status(Status(StatusCode.ERROR, _INTERRUPTED))
                raise

    def _inject(self, carrier: dict[str, str]) -> None:
        if self._propagator is None:
            propagate.inject(carrier)
        else:
            self._propagator.inject(carrier)

    def _extract(self, meta: Mapping[str, str]) -> Context:
        if self._propagator is None:
            return propagate.extract(meta)
        return self._propagator.extract(meta)


def _failed(span: Span, exc: BaseException) -> None:
    """Mark ``span`` as failed by ``exc``: an exception event, ``error.type`` and status ``ERROR``."""
    span.record_exception(exc)
    span.set_attribute("error.type", _type_name(exc))
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


def _type_name(exc: BaseException) -> str:
    """The exception's class as ``error.type`` wants it: fully qualified, except for builtins."""
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


__all__ = ["MESSAGING_SYSTEM", "TracingMiddleware"]
