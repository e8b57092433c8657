"""Redis outages seen from a worker: retry what can heal, refuse what cannot, bound the shutdown.

Every Redis call of a worker's loops goes through one :class:`RedisCalls`:

* a connection error or timeout (Redis restarting, a network blip, a hung
  server) is retried with a backoff that doubles up to
  :data:`RECONNECT_BACKOFF`, logged once when the outage starts and once
  when it ends; a single failure is retried at once without a word, since
  after a Redis restart each pooled connection fails once before it
  reconnects;
* ``LOADING`` and ``BUSY`` replies are waited out the same way;
* a refusal that retrying cannot fix (wrong credentials, an ACL ``NOPERM``,
  a server certificate the CA did not sign: :func:`aioresque._errors.refusal`)
  is raised at once as the aioresque error, so a worker exits with one line
  instead of retrying for ever.

A retry loop never outlives a shutdown: the worker runs its loops inside a
cancel scope whose deadline is the stop time plus :func:`shutdown_budget`,
and running jobs get all of it but :func:`hand_back_reserve`, the time kept
for handing the interrupted jobs back. What is not recorded by then (Redis
unreachable) is left to the leases.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ._errors import AuthenticationFailed, ConfigurationError, refusal

RECONNECT_BACKOFF = (0.1, 5.0)
"""First and longest pause between tries while Redis is unreachable (seconds)."""

HAND_BACK_SHARE = (0.1, 0.25, 1.0)
"""Part of ``grace`` kept for handing interrupted jobs back: a tenth, between 0.25 s and 1 s.

``grace`` bounds the whole shutdown, Redis reachable or not: running jobs get
``grace`` minus this reserve to finish, then the interrupted ones are handed
back in the reserve; whatever is not recorded by then (Redis unreachable) is
left to the leases. A grace shorter than the floor gives the jobs no time and
the shutdown the floor."""


def hand_back_reserve(grace: float) -> float:
    """Seconds of the shutdown kept for recording the hand-back of interrupted jobs."""
    share, floor, cap = HAND_BACK_SHARE
    return min(cap, max(floor, grace * share))


def shutdown_budget(grace: float) -> float:
    """Seconds the whole shutdown may take: ``grace``, or the hand-back reserve if that is longer."""
    return max(grace, hand_back_reserve(grace))


class RedisCalls:
    """One worker's Redis calls and whether Redis is in an outage (see the module docstring).

    Args:
        log: where the start and end of an outage are logged.
    """

    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self.outage = False
        """True between the first failed retry of an outage and the next call that succeeds."""

    async def call(self, fn: Any, *args: Any) -> Any:
        """Call ``fn(*args)``, retrying with backoff while Redis is unreachable.

        Returns:
            What ``fn`` returns.

        Raises:
            AuthenticationFailed: Redis refused the credentials; retrying
                with the same ones cannot help.
            PermissionDenied: an ACL forbids a command the worker needs.
            ConfigurationError: the TLS settings do not match the server.
            redis.exceptions.ResponseError: any other error reply (garbage
                in a key, say), for the caller to handle.
        """
        pause = RECONNECT_BACKOFF[0]
        tries = 0
        while True:
            tries += 1
            try:
                result = await fn(*args)
            except (RedisError, OSError, AuthenticationFailed, ConfigurationError) as exc:
                if (refused := refusal(exc)) is exc:
                    raise
                if refused is not None:
                    raise refused from exc
                if not isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError):
                    if "LOADING" in str(exc) or "BUSY" in str(exc):
                        await anyio.sleep(pause)
                        pause = min(pause * 2, RECONNECT_BACKOFF[1])
                        continue
                    raise
                if tries == 1 and not self.outage:
                    continue
                if not self.outage:
                    self.outage = True
                    self.log.error("Redis unreachable (%s); retrying with backoff", exc)
                await anyio.sleep(pause)
                pause = min(pause * 2, RECONNECT_BACKOFF[1])
                continue
            if self.outage:
                self.outage = False
                self.log.warning("Redis reachable again; resuming")
            return result
