"""Benchmark aioresque beside arq, SAQ, RQ, streaq, taskiq and BullMQ on one private Redis.

Usage::

    python benchmarks/run.py              # full run, medians of 3 (~10 min on 2 cores)
    python benchmarks/run.py --quick      # small N, one repeat (~2 min)
    python benchmarks/run.py --repeats 5 --only aioresque,arq

Each library runs its own worker command line in a subprocess, as a user
would start it, against a ``redis-server`` this script starts on a free port
(no persistence) and stops at the end. Results go to
``benchmarks/results/latest.{md,json}`` and ``chart.png``; see
``benchmarks/README.md`` for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import _report
from benchmarks._libs import ALL, Aioresque, Library
from benchmarks._measure import REPO, Bench, BenchError, Drain, body_cost
from benchmarks._server import RedisServer

RESULTS = Path(__file__).resolve().parent / "results"
HIGH_CONCURRENCY = 100


@dataclass(frozen=True, slots=True)
class Sizes:
    """How many jobs each figure uses."""

    drain: int
    sleep: int
    latency: int
    rate: float
    timeout: float


FULL = Sizes(drain=4000, sleep=1500, latency=1500, rate=500.0, timeout=12.0)
QUICK = Sizes(drain=1000, sleep=500, latency=500, rate=500.0, timeout=8.0)


def _drain_metrics(prefix: str, drain: Drain, body_us: dict[str, float]) -> dict[str, float]:
    out = {f"{prefix}.{k}": v for k, v in asdict(drain).items() if isinstance(v, int | float) and k != "jobs"}
    if drain.loop in body_us:
        out[f"{prefix}.own_cpu_us"] = drain.worker_cpu_us - body_us[drain.loop]
    return out


async def measure_library(
    bench: Bench, sizes: Sizes, body_us: dict[str, float], notes: dict[str, str], extra: dict[str, Any]
) -> dict[str, float]:
    """Every figure for one library in one repeat; failures go to ``notes``."""
    lib = bench.lib
    figures: dict[str, float] = {}
    n = sizes.drain

    async def attempt(name: str, coro: Any) -> Any:
        try:
            return await coro
        except (BenchError, Exception) as exc:  # noqa: BLE001 - one failed figure must not end the run
            notes[name] = f"error: {type(exc).__name__}: {exc}"[:200]
            print(f"    {lib.name} {name}: {notes[name]}", flush=True)
            return None

    def record_drain(name: str, drain: Drain | None) -> None:
        if drain is not None:
            figures.update(_drain_metrics(name, drain, body_us))
            extra.setdefault("commandstats", {})[name] = drain.commandstats
            extra["loop"] = drain.loop
            if drain.partial:
                notes[name] = f"partial: {drain.jobs} of {n} jobs in {sizes.timeout:.0f} s"

    # 1 + 3a: enqueue one by one, then drain those jobs at c=1.
    await bench.reset()
    rate = await attempt("enqueue_one", bench.enqueue_one_by_one("noop", n))
    if rate is not None:
        figures["enqueue_one"] = rate
        record_drain("drain_c1", await attempt("drain_c1", bench.drain("drain_c1", n, 1, sizes.timeout)))

    # 2 + 3b: enqueue in bulk, then drain at the library's default concurrency.
    await bench.reset()
    if lib.has_bulk:
        rate = await attempt("enqueue_bulk", bench.enqueue_bulk("noop", n))
        if rate is not None:
            figures["enqueue_bulk"] = rate
    else:
        notes["enqueue_bulk"] = _report.DASH
        await attempt("enqueue_bulk", bench.fill("noop", n))
    if lib.default_concurrency == 1 and "drain_c1.rate" in figures:
        notes["drain_default"] = "= c=1"
        figures.update({k.replace("drain_c1", "drain_default"): v for k, v in figures.items() if "drain_c1" in k})
    else:
        record_drain(
            "drain_default", await attempt("drain_default", bench.drain("drain_default", n, None, sizes.timeout))
        )

    # 3c: drain at c=100; 4: 10 ms sleeps at c=100.
    if lib.max_concurrency is not None and lib.max_concurrency < HIGH_CONCURRENCY:
        notes["drain_c100"] = notes["sleep_c100"] = f"n/a (runs {lib.max_concurrency} job at a time)"
    else:
        await bench.reset()
        await attempt("drain_c100", bench.fill("noop", n))
        record_drain(
            "drain_c100", await attempt("drain_c100", bench.drain("drain_c100", n, HIGH_CONCURRENCY, sizes.timeout))
        )
        if isinstance(lib, Aioresque):  # 1 -> 2 processes: the same drain under `--processes 2`
            await bench.reset()
            await attempt("drain_c100_p2", bench.fill("noop", n))
            lib.processes = 2
            try:
                two = await attempt("drain_c100_p2", bench.drain("drain_c100_p2", n, HIGH_CONCURRENCY, sizes.timeout))
            finally:
                lib.processes = 1
            if two is not None:
                figures["drain_c100_p2.rate"] = two.rate
        await bench.reset()
        await attempt("sleep_c100", bench.fill("sleepy", sizes.sleep))
        sleep = await attempt("sleep_c100", bench.drain("sleep_c100", sizes.sleep, HIGH_CONCURRENCY, sizes.timeout))
        if sleep is not None:
            figures["sleep_c100.rate"] = sleep.rate

    # 5: enqueue→start latency at a fixed rate, idle worker at default concurrency.
    await bench.reset()
    latency = await attempt("latency", bench.latency(sizes.latency, sizes.rate, None, sizes.timeout))
    if latency is not None:
        figures.update({f"latency.{k}": v for k, v in asdict(latency).items() if k != "jobs"})
    return figures


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run every repeat for every library; returns the full result record."""
    sizes = QUICK if args.quick else FULL
    repeats = args.repeats
    wanted = [name.strip() for name in args.only.split(",")] if args.only else None
    started = time.monotonic()
    revision = _revision()  # before the run: the tree may change while it runs
    with RedisServer() as server:
        # The peers' jobs modules read these when imported, here and in workers.
        os.environ["BENCH_REDIS_URL"] = server.url(0)
        os.environ["BENCH_COUNTER_URL"] = server.url(1)
        libraries: list[Library] = [cls(server.url(0)) for cls in ALL if wanted is None or cls.name in wanted]
        unavailable: dict[str, str] = {}
        for lib in libraries:
            reason = lib.check()
            if reason is not None:
                unavailable[lib.name] = reason
                print(f"{lib.name}: n/a ({reason})", flush=True)
        usable = [lib for lib in libraries if lib.name not in unavailable]
        runs: dict[str, list[dict[str, float]]] = {lib.name: [] for lib in usable}
        notes: dict[str, dict[str, str]] = {lib.name: {} for lib in usable}
        extras: dict[str, list[dict[str, Any]]] = {lib.name: [] for lib in usable}
        body_runs: list[dict[str, float]] = []
        for repeat in range(repeats):
            body_us = {
                loop: body_cost(loop, sizes.drain, server.url(1)) * 1e6 for loop in ("uvloop", "asyncio", "sync")
            }
            body_runs.append(body_us)
            print(f"run {repeat + 1}/{repeats}: body alone " + ", ".join(f"{k} {v:.1f} µs" for k, v in body_us.items()))
            # Rotate the order so no library always runs first (or right after a heavy one).
            order = usable[repeat % len(usable) :] + usable[: repeat % len(usable)] if usable else []
            for lib in order:
                t0 = time.monotonic()
                bench = Bench(server, lib, RESULTS / "logs")
                extra: dict[str, Any] = {}
                try:
                    figures = await measure_library(bench, sizes, body_us, notes[lib.name], extra)
                except Exception as exc:  # noqa: BLE001 - a broken peer is reported, and the run goes on
                    notes[lib.name]["error"] = f"{type(exc).__name__}: {exc}"[:200]
                    print(f"  {lib.name}: error: {notes[lib.name]['error']}", flush=True)
                    figures = {}
                finally:
                    with contextlib.suppress(Exception):
                        await bench.close()
                runs[lib.name].append(figures)
                extras[lib.name].append(extra)
                print(f"  {lib.name:10s} {time.monotonic() - t0:5.1f} s  " + _summary(figures), flush=True)
        redis_version = server.version()
    figures = {name: _report.medians(r) for name, r in runs.items()}
    versions: dict[str, str] = {}
    for lib in libraries:
        versions.update(lib.versions())
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": shlex.join(["python", "benchmarks/run.py", *sys.argv[1:]]),
        "machine": f"{os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}",
        "redis_version": redis_version,
        "aioresque_revision": revision,
        "repeats": repeats,
        "sizes": asdict(sizes),
        "duration_s": time.monotonic() - started,
        "libraries": {
            lib.name: {"default_concurrency": lib.default_concurrency, "command": shlex.join(lib.worker_command(None))}
            for lib in usable
        },
        "unavailable": unavailable,
        "versions": versions,
        "body_cpu_us": _report.medians(body_runs),
        "medians": figures,
        "notes": notes,
        "runs": runs,
        "details": extras,
    }


def _revision() -> str:
    """The repository's commit, with "+ local changes" when the tree is dirty."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "aioresque"], cwd=REPO, capture_output=True, text=True)
    except OSError:
        return "unknown"
    return head.stdout.strip() + (" + local changes" if dirty.stdout.strip() else "")


def _summary(figures: dict[str, float]) -> str:
    keys = ("enqueue_one", "drain_c1.rate", "drain_default.rate", "drain_c100.rate", "latency.p50_ms")
    return "  ".join(f"{k.split('.')[0]}={figures[k]:,.1f}" for k in keys if k in figures)


def main() -> None:
    """Parse arguments, run, and write the results."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small N and one repeat unless --repeats is given")
    parser.add_argument("--repeats", type=int, default=None, help="runs per figure; the median is reported (default 3)")
    parser.add_argument("--only", default="", help="comma-separated libraries to run (default: all)")
    args = parser.parse_args()
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    known = {cls.name for cls in ALL}
    unknown = {name.strip() for name in args.only.split(",") if name.strip()} - known
    if unknown:
        parser.error(f"unknown libraries {sorted(unknown)}; choose from {sorted(known)}")
    result = asyncio.run(run(args)) if not _has_uvloop() else _uvloop_run(args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    page = _report.markdown(result)
    (RESULTS / "latest.md").write_text(page)
    _report.write_json(RESULTS / "latest.json", result)
    why_not = _report.chart(RESULTS / "chart.png", result)
    print()
    print(page)
    print(f"wrote {RESULTS / 'latest.md'} and latest.json", end="")
    print(f"; no chart: {why_not}" if why_not else " and chart.png")


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def _uvloop_run(args: argparse.Namespace) -> dict[str, Any]:
    # The producers run on uvloop, as in a typical uvicorn-served app.
    import uvloop

    return uvloop.run(run(args))


if __name__ == "__main__":
    main()
