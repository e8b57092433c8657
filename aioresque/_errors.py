"""The exceptions aioresque raises.

::

    AioresqueError                 base of everything below
    ├── ConfigurationError         bad settings, unusable jobs module
    ├── SerializationError         an argument or result cannot be serialized
    ├── PayloadTooLarge            a payload exceeds the queue's size limit
    ├── JobNotFound                no record for that job id (never existed or expired)
    ├── ConnectionLost             Redis cannot be reached (wraps redis-py's error)
    ├── ResultTimeout              result(timeout=...) ran out before the job finished
    │                              (also a TimeoutError)
    └── JobError                   the job ended without a result
        ├── JobFailed              its handler raised (or timed out) and no attempt is left
        ├── JobDead                the system gave up on it (worker lost too often,
        │                          unknown handler, undecodable payload)
        └── JobCancelled           it was cancelled

Raised by handlers, to steer retries (they are not errors of aioresque)::

    Retry                          run the job again after ``delay`` seconds
    NonRetryable                   fail the job now, whatever attempts are left

redis-py errors are translated to these at one boundary, :func:`translate`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError


class AioresqueError(Exception):
    """Base class of every exception aioresque raises."""


class ConfigurationError(AioresqueError):
    """Raised for invalid settings, or a jobs module that cannot be used."""


class SerializationError(AioresqueError, TypeError):
    """Raised when a job's arguments or result cannot be serialized."""


class PayloadTooLarge(AioresqueError, ValueError):
    """Raised by ``enqueue`` when a payload exceeds ``max_payload_bytes``."""


class JobNotFound(AioresqueError, LookupError):
    """Raised when a job id has no record: never enqueued, or expired."""


class ConnectionLost(AioresqueError, ConnectionError):
    """Raised when Redis cannot be reached."""


class ResultTimeout(AioresqueError, TimeoutError):
    """Raised by ``Job.result`` when its timeout passes before the job finishes."""


class JobError(AioresqueError):
    """Base class for a job that ended without a result.

    Attributes:
        job_id: the job's id.
        error: the error text recorded for the job (``"Type: message"``).
        traceback: the formatted traceback of the last failure, if any.
    """

    def __init__(self, job_id: str, error: str, traceback: str | None = None) -> None:
        super().__init__(f"job {job_id}: {error}")
        self.job_id = job_id
        self.error = error
        self.traceback = traceback


class JobFailed(JobError):
    """Raised by ``Job.result`` when the handler failed and no attempt is left."""


class JobDead(JobError):
    """Raised by ``Job.result`` when the job could not be run (see its error)."""


class JobCancelled(JobError):
    """Raised by ``Job.result`` when the job was cancelled."""


class Retry(Exception):
    """Raise from a handler to run the job again after ``delay`` seconds.

    ``raise aioresque.Retry(delay=30)``. The attempt counts toward the job's
    ``max_attempts`` like a failure (as in arq and RQ), so a job that keeps
    asking to be retried still ends, ``failed``, when its attempts run out;
    its error record says the retry was requested. ``delay=None`` uses the
    handler's backoff.

    Args:
        delay: seconds to wait (a float or ``timedelta``), or None.
        reason: a short text recorded as the attempt's error.
    """

    def __init__(self, delay: float | timedelta | None = None, reason: str = "") -> None:
        seconds = delay.total_seconds() if isinstance(delay, timedelta) else delay
        if seconds is not None and not seconds >= 0:
            raise ConfigurationError(f"Retry delay must not be negative, got {delay}")
        super().__init__(reason or "retry requested")
        self.delay = seconds
        self.reason = reason


class NonRetryable(Exception):
    """Raise from a handler (or subclass) to fail the job at once, without retries.

    The job goes straight to ``failed`` whatever attempts it has left, with
    this exception as its error; handlers declared with ``retry_on=`` treat
    every other exception type this way too. A ``NonRetryable`` raised
    ``from`` another error keeps that cause in the traceback.
    """


@asynccontextmanager
async def translate() -> AsyncIterator[None]:
    """Turn redis-py's connection errors into :class:`ConnectionLost`."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise ConnectionLost(f"Redis is unreachable: {exc}") from exc
