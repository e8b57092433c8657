"""``aioresque worker MODULE``: run a worker process.

Signals, logging setup and uvloop belong here, not in :class:`Worker`, so an
in-process worker never touches the host application's signal handlers.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
from typing import Any

import anyio

from ._cli import default_url, fail, name_of, positive_float, positive_int, queue_list
from ._errors import AioresqueError
from ._handler import Registry
from ._keys import DEFAULT_PREFIX
from ._metrics_server import serve_metrics
from ._queue import DEFAULT_URL
from ._supervisor import Supervisor, child_commands
from ._worker import Worker

log = logging.getLogger("aioresque.cli")


def add_parser(sub: Any) -> None:
    """Add the ``worker`` subcommand."""
    w = sub.add_parser("worker", help="run a worker for the @job handlers in MODULE")
    w.add_argument(
        "module", metavar="MODULE", help="importable module path with @aioresque.job handlers, e.g. app.jobs"
    )
    w.add_argument("--redis-url", default=None, help=f"Redis URL (default: $AIORESQUE_REDIS_URL or {DEFAULT_URL})")
    w.add_argument(
        "--queues",
        type=queue_list,
        default="default",
        help="comma-separated queues in priority order, or '*' for all (default: default)",
    )
    w.add_argument("--concurrency", type=positive_int, default=10, help="jobs in flight at once (default: 10)")
    w.add_argument("--burst", action="store_true", help="exit once the queues are empty and nothing runs")
    w.add_argument("--lease", type=positive_float, default=30.0, help="lease length in seconds (default: 30)")
    w.add_argument(
        "--max-lost",
        type=positive_int,
        default=3,
        help="times a job may be lost with its worker before it goes to the dead set (default: 3)",
    )
    w.add_argument(
        "--grace", type=positive_float, default=25.0, help="seconds to let jobs finish on shutdown (default: 25)"
    )
    w.add_argument(
        "--prefix",
        type=name_of("prefix"),
        default=DEFAULT_PREFIX,
        help=f"Redis key namespace (default: {DEFAULT_PREFIX})",
    )
    w.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        type=str.upper,
        help="log level (default: INFO)",
    )
    w.add_argument(
        "--metrics-port",
        type=positive_int,
        default=None,
        help="serve this worker's Prometheus metrics (attempts and durations by handler) on this port",
    )
    w.add_argument("--metrics-host", default="127.0.0.1", help="interface for --metrics-port (default: 127.0.0.1)")
    w.add_argument(
        "--processes",
        type=positive_int,
        default=1,
        help="run N worker processes under a supervisor that restarts any that die (default: 1)",
    )
    w.add_argument(
        "--allow-eviction",
        action="store_true",
        help="start even if Redis's maxmemory-policy is not noeviction (Redis may then delete queued jobs)",
    )
    w.add_argument(
        "--resque-queues",
        default="",
        help="comma-separated Ruby Resque queues to import and run (served as the aioresque queues of the same names)",
    )
    w.add_argument("--resque-namespace", default="resque", help="Ruby Resque's Redis namespace (default: resque)")
    w.add_argument(
        "--resque-register",
        action="store_true",
        help="list this worker in Resque's worker registry (resque-web's Workers tab); needs --resque-queues",
    )
    w.set_defaults(run=_run_worker)


def _load_registry(module_path: str) -> Registry:
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_path)
    except Exception as exc:  # noqa: BLE001 - any import failure is a usage error, reported in one line
        fail(f"cannot import module {module_path!r}: {type(exc).__name__}: {exc}")
    try:
        return Registry.from_module(module)
    except AioresqueError as exc:
        fail(str(exc))


async def _serve(worker: Worker, metrics_at: tuple[str, int] | None = None) -> None:
    async with anyio.create_task_group() as tg:
        if metrics_at is not None:
            tg.start_soon(serve_metrics, *metrics_at, lambda: worker.metrics.render(worker.statistics().running))

        async def signals() -> None:
            stops = 0
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGUSR2, signal.SIGCONT) as received:
                async for signum in received:
                    if signum == signal.SIGUSR2:
                        log.info("SIGUSR2: pausing claims")
                        worker.pause()
                    elif signum == signal.SIGCONT:
                        log.info("SIGCONT: resuming claims")
                        worker.resume()
                    else:
                        stops += 1
                        if stops > 1:
                            log.warning(
                                "second %s: exiting now; leases cover unfinished jobs", signal.Signals(signum).name
                            )
                            logging.shutdown()
                            os._exit(1)
                        log.info("%s: shutting down gracefully", signal.Signals(signum).name)
                        worker.stop()

        tg.start_soon(signals)
        await worker.run()
        tg.cancel_scope.cancel()


def _run_worker(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    registry = _load_registry(args.module)  # fail fast, before any child starts
    if args.processes > 1:
        return _supervise(args)
    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    try:
        worker = Worker(
            args.redis_url or default_url(),
            registry,
            queues=queues,
            concurrency=args.concurrency,
            lease=args.lease,
            max_lost=args.max_lost,
            grace=args.grace,
            burst=args.burst,
            prefix=args.prefix,
            allow_eviction=args.allow_eviction,
            resque_queues=[q.strip() for q in args.resque_queues.split(",") if q.strip()],
            resque_namespace=args.resque_namespace,
            resque_register=args.resque_register,
        )
    except AioresqueError as exc:
        fail(str(exc))
    try:
        metrics_at = None if args.metrics_port is None else (args.metrics_host, args.metrics_port)
        try:
            anyio.run(_serve, worker, metrics_at, backend="asyncio", backend_options=_backend_options())
        except* AioresqueError as group:
            # Found at start-up (a server too old, an eviction policy, wrong
            # credentials, an ACL): one line, not a traceback, and no retrying.
            fail("; ".join(str(exc) for exc in _leaves(group)))
    except KeyboardInterrupt:  # pragma: no cover - signals are handled in _serve
        return 1
    return 0


def _leaves(group: BaseExceptionGroup[AioresqueError]) -> list[AioresqueError]:
    leaves: list[AioresqueError] = []
    for exc in group.exceptions:
        leaves += _leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
    return leaves


def _child_base_command(args: argparse.Namespace) -> list[str]:
    """The ``worker`` command line a child of ``--processes`` runs (without it)."""
    command = [sys.executable, "-m", "aioresque", "worker", args.module]
    command += ["--queues", args.queues]  # the URL goes in the environment (see _supervise)
    command += ["--concurrency", str(args.concurrency), "--lease", str(args.lease)]
    command += ["--max-lost", str(args.max_lost), "--grace", str(args.grace)]
    command += ["--prefix", args.prefix, "--log-level", args.log_level, "--metrics-host", args.metrics_host]
    if args.resque_queues:
        command += ["--resque-queues", args.resque_queues, "--resque-namespace", args.resque_namespace]
        if args.resque_register:
            command.append("--resque-register")
    if args.burst:
        command.append("--burst")
    if args.allow_eviction:
        command.append("--allow-eviction")
    return command


def _supervise(args: argparse.Namespace) -> int:
    commands = child_commands(_child_base_command(args), args.processes, args.metrics_port)
    # In the environment, not argv: `ps` shows a command line to every user of the host.
    env = {"AIORESQUE_REDIS_URL": args.redis_url or default_url()}
    return Supervisor(commands, burst=args.burst, env=env).run()


def _backend_options() -> dict[str, bool]:
    try:
        import uvloop  # noqa: F401
    except ImportError:  # pragma: no cover - uvloop is a dependency on CPython
        return {}
    return {"use_uvloop": True}
