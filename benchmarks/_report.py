"""Turning repeated measurements into medians, ratios, Markdown, JSON and a chart."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUBJECT = "aioresque"
DASH = "\u2013"
"""Shown where a library has no such figure (an en dash)."""
TIMES = "\u00d7"
PARTIAL = "\u2020"
"""Marks a drain cut short by its time budget (a dagger)."""


@dataclass(frozen=True, slots=True)
class Column:
    """One figure in a results table."""

    key: str
    """The metric's key in the per-library results."""
    title: str
    higher_is_better: bool
    digits: int = 0


THROUGHPUT = (
    Column("enqueue_one", "enqueue 1-by-1 (jobs/s)", True),
    Column("enqueue_bulk", "enqueue bulk (jobs/s)", True),
    Column("drain_c1.rate", "drain c=1 (jobs/s)", True),
    Column("drain_default.rate", "drain default c (jobs/s)", True),
    Column("drain_c100.rate", "drain c=100 (jobs/s)", True),
    Column("sleep_c100.rate", "10 ms sleeps c=100 (jobs/s)", True),
    Column("latency.p50_ms", "latency p50 (ms)", False, 2),
    Column("latency.p99_ms", "latency p99 (ms)", False, 2),
)


def cost_columns(drain: str) -> tuple[Column, ...]:
    """The cost figures of one drain (``drain_c1``, ``drain_default``, ``drain_c100``)."""
    return (
        Column(f"{drain}.commands_per_job", "Redis cmds/job (incl. inside Lua)", False, 2),
        Column(f"{drain}.script_calls_per_job", "script calls/job", False, 2),
        Column(f"{drain}.redis_cpu_us", "Redis CPU µs/job", False, 1),
        Column(f"{drain}.worker_cpu_us", "worker CPU µs/job", False, 1),
        Column(f"{drain}.own_cpu_us", "worker CPU minus body µs/job", False, 1),
        Column(f"{drain}.startup_s", "worker startup (s)", False, 2),
    )


COST_TABLES = {
    "drain_c1": "Costs per job, drain at c=1",
    "drain_default": "Costs per job, drain at each library's default concurrency",
    "drain_c100": "Costs per job, drain at c=100",
}


def medians(runs: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """The median of each metric over the runs that measured it."""
    keys = sorted({k for run in runs for k in run})
    return {k: statistics.median([run[k] for run in runs if k in run]) for k in keys}


def _fmt(value: float, digits: int) -> str:
    if math.isnan(value):
        return DASH
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _cell(lib: str, column: Column, figures: Mapping[str, Mapping[str, float]], notes: Mapping[str, Any]) -> str:
    value = figures.get(lib, {}).get(column.key)
    note = notes.get(lib, {}).get(column.key.split(".")[0])
    if value is not None:
        return _fmt(value, column.digits) + (PARTIAL if note and note.startswith("partial") else "")
    return note or DASH


def ratio(column: Column, figures: Mapping[str, Mapping[str, float]]) -> tuple[float, str] | None:
    """aioresque's figure divided by the best peer's, and that peer's name."""
    ours = figures.get(SUBJECT, {}).get(column.key)
    peers = [(v, lib) for lib, f in figures.items() if lib != SUBJECT and (v := f.get(column.key)) is not None]
    if ours is None or not peers:
        return None
    best, name = max(peers) if column.higher_is_better else min(peers)
    if best == 0:
        return None
    return ours / best, name


def table(
    columns: Sequence[Column],
    libraries: Sequence[str],
    figures: Mapping[str, Mapping[str, float]],
    notes: Mapping[str, Any],
    concurrency: Mapping[str, int],
) -> str:
    """A Markdown table, one row per library plus a ratio row."""
    head = ["library", *[c.title for c in columns]]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---", *["---:"] * len(columns)]) + "|"]
    for lib in libraries:
        label = f"{lib} (c={concurrency[lib]})" if lib in concurrency else lib
        lines.append("| " + " | ".join([label, *[_cell(lib, c, figures, notes) for c in columns]]) + " |")
    cells = []
    for c in columns:
        r = ratio(c, figures)
        arrow = "↑" if c.higher_is_better else "↓"
        cells.append(DASH if r is None else f"{r[0]:.2f}{TIMES} {arrow} vs {r[1]}")
    lines.append("| " + " | ".join([f"**{SUBJECT} ÷ best peer**", *cells]) + " |")
    return "\n".join(lines)


def markdown(result: Mapping[str, Any]) -> str:
    """The whole results page."""
    libs = list(result["libraries"])
    figures = result["medians"]
    notes = result["notes"]
    conc = {lib: info["default_concurrency"] for lib, info in result["libraries"].items()}
    parts = [
        f"# aioresque benchmark results ({result['date']})",
        "",
        f"Command: `{result['command']}`  ",
        f"Machine: {result['machine']}  ",
        f"aioresque: {result['aioresque_revision']}  ",
        f"Redis: {result['redis_version']} (private server, no persistence); "
        f"N = {result['sizes']['drain']} jobs per drain, {result['sizes']['sleep']} sleeping jobs, "
        f"{result['sizes']['latency']} latency jobs at {result['sizes']['rate']:.0f}/s; "
        f"medians of {result['repeats']} run(s); run took {result['duration_s']:.0f} s.",
        "",
        "In the ratio row, ↑ means higher is better and ↓ lower is better; the"
        " default concurrency is in brackets after each library's name."
        f" {PARTIAL} marks a drain still running when its time budget"
        f" ({result['sizes']['timeout']:.0f} s) ran out, measured over the jobs done by then.",
        "",
        "## Throughput and latency",
        "",
        table(THROUGHPUT, libs, figures, notes, conc),
    ]
    for drain, title in COST_TABLES.items():
        shown = conc if drain == "drain_default" else {}
        parts += ["", f"## {title}", "", table(cost_columns(drain), libs, figures, notes, shown)]
    one, two = (figures.get(SUBJECT, {}).get(f"{k}.rate") for k in ("drain_c100", "drain_c100_p2"))
    if one and two:
        parts += [
            "",
            "## One process, then two",
            "",
            f"{SUBJECT} drain at c=100: {one:,.0f} jobs/s with one worker process, {two:,.0f} jobs/s"
            f" with `--processes 2` ({two / one:.2f}{TIMES}; the machine's two cores also run Redis"
            " and the benchmark's producer).",
        ]
    body = result.get("body_cpu_us", {})
    parts += [
        "",
        "The job body alone (one INCR, measured in a loop in a fresh process) costs "
        + ", ".join(f"{v:.1f} µs on {k}" for k, v in sorted(body.items()))
        + "; *worker CPU minus body* subtracts it for the worker's own event loop.",
        "",
        "## Versions",
        "",
        "| package | version |",
        "|---|---|",
        *[f"| {pkg} | {ver} |" for pkg, ver in sorted(result["versions"].items())],
    ]
    unavailable = {lib: why for lib, why in result["unavailable"].items()}
    if unavailable:
        parts += ["", "## Not measured", ""]
        parts += [f"* {lib}: n/a ({why})" for lib, why in unavailable.items()]
    return "\n".join(parts) + "\n"


def write_json(path: Path, result: Mapping[str, Any]) -> None:
    """Write the full results, every run included."""
    path.write_text(json.dumps(result, indent=2, sort_keys=False, default=str) + "\n")


def chart(path: Path, result: Mapping[str, Any]) -> str | None:
    """Draw a bar chart per figure; returns why not, when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install -e '.[bench]')"
    figures = result["medians"]
    libs = [lib for lib in result["libraries"] if lib in figures]
    panels = [*THROUGHPUT, Column("drain_c100.worker_cpu_us", "worker CPU µs/job (c=100)", False)]
    cols = 3
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.4 * rows))
    for ax, column in zip(axes.flat, panels, strict=False):
        names = [lib for lib in libs if column.key in figures[lib]]
        values = [figures[lib][column.key] for lib in names]
        colors = ["tab:red" if n == SUBJECT else "tab:gray" for n in names]
        ax.bar(names, values, color=colors)
        if column.key.startswith("latency"):
            ax.set_yscale("log")  # spans from under a millisecond to seconds
        ax.set_title(column.title + (" ↑" if column.higher_is_better else " ↓"), fontsize=10)
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.suptitle(f"aioresque vs peers — {result['date']}, {result['machine']}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
