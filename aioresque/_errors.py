"""The exceptions aioresque raises.

::

    AioresqueError                 base of everything below
    ├── ConfigurationError         bad settings, unusable jobs module
    ├── SerializationError         an argument or result cannot be serialized
    ├── PayloadTooLarge            a payload exceeds the queue's size limit
    ├── JobNotFound                no record for that job id (never existed or expired)
    ├── ConnectionLost             Redis cannot be reached (wraps redis-py's error)
    ├── AuthenticationFailed       Redis refused the credentials (wrong or missing
    │                              user/password): retrying will not help
    ├── PermissionDenied           an ACL forbids a command or key the call needs
    │                              (also a PermissionError)
    ├── RedisFull                  Redis refused a write: maxmemory is reached and the
    │                              policy is noeviction
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

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from redis.exceptions import AuthenticationError as RedisAuthenticationError
from redis.exceptions import (
    AuthenticationWrongNumberOfArgsError,
    NoPermissionError,
    OutOfMemoryError,
    RedisError,
    ResponseError,
)
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


class AuthenticationFailed(AioresqueError):
    """Raised when Redis refuses the URL's credentials (``WRONGPASS``, ``NOAUTH``).

    Not a :class:`ConnectionLost`: the server is reachable and retrying with
    the same credentials will not help, so a worker exits at start-up.
    """


class PermissionDenied(AioresqueError, PermissionError):
    """Raised when a Redis ACL forbids a command or key that the call needs (``NOPERM``).

    docs/production.md lists the narrowest ACL rule each role (producer,
    worker, read-only dashboard) needs.
    """


class RedisFull(AioresqueError):
    """Raised when Redis refuses a write because ``maxmemory`` is reached (``OOM``).

    With ``maxmemory-policy noeviction`` (the policy aioresque needs) a full
    Redis refuses new writes instead of deleting keys, so ``enqueue`` raises
    this and nothing was written. Free memory (retention, dead set, other
    data) or raise ``maxmemory``, then enqueue again.
    """


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


_TLS_REFUSED = re.compile(r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|unknown ca|bad certificate", re.I)

FULL_MESSAGE = (
    "Redis is full: it refused a write because maxmemory is reached (OOM); nothing was written. "
    "Free memory or raise maxmemory (see docs/production.md)"
)


def translated(exc: BaseException) -> AioresqueError | None:
    """The aioresque error for a redis-py error, or None when it has none.

    The one mapping from redis-py's errors to this module's (used by
    :func:`translate` and by the worker's retry loop): a refused login is
    :class:`AuthenticationFailed` (checked before the connection errors it
    derives from in redis-py), ``NOPERM`` :class:`PermissionDenied`, ``OOM``
    :class:`RedisFull`, a server certificate the CA did not sign
    :class:`ConfigurationError`, an unreachable server :class:`ConnectionLost`.
    """
    if isinstance(exc, AioresqueError):
        return exc
    if isinstance(exc, RedisAuthenticationError | AuthenticationWrongNumberOfArgsError):
        return AuthenticationFailed(f"Redis refused the credentials: {exc} (check the user and password in the URL)")
    if isinstance(exc, NoPermissionError):
        return PermissionDenied(f"the Redis user may not do this: {exc} (see the ACL rules in docs/production.md)")
    if isinstance(exc, OutOfMemoryError) or (isinstance(exc, ResponseError) and "OOM command not allowed" in str(exc)):
        return RedisFull(FULL_MESSAGE)
    if isinstance(exc, RedisConnectionError) and _TLS_REFUSED.search(str(exc)):
        return ConfigurationError(
            f"TLS: the Redis server's certificate was not accepted ({exc}); check ssl_ca_certs "
            "(the CA that signed the server's certificate) and ssl_cert_reqs in the URL's query string"
        )
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return ConnectionLost(f"Redis is unreachable: {exc}")
    return None


def refusal(exc: BaseException) -> AioresqueError | None:
    """The error to raise at once for ``exc`` if retrying cannot help, else None.

    Wrong credentials, an ACL that forbids a command, a server certificate
    that the configured CA did not sign: the server answered, and it will
    answer the same way next time. A worker stops retrying on these.
    """
    mapped = exc if isinstance(exc, AioresqueError) else translated(exc)
    if isinstance(mapped, AuthenticationFailed | PermissionDenied | ConfigurationError):
        return mapped
    return None


@asynccontextmanager
async def translate() -> AsyncIterator[None]:
    """Turn redis-py's errors into aioresque's (see :func:`translated`); others pass through."""
    try:
        yield
    except RedisError as exc:
        mapped = translated(exc)
        if mapped is None:
            raise
        raise mapped from exc
