"""The overview's throughput chart, drawn as inline SVG on the server.

A pure function of the history series: no JavaScript chart library, no CDN,
and the same picture in a browser with scripts off.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from .._admin import HistoryPoint

WIDTH = 720
HEIGHT = 180
PAD_LEFT = 44
PAD_BOTTOM = 22
PAD_TOP = 10


def merge(series: Sequence[Sequence[HistoryPoint]]) -> list[HistoryPoint]:
    """Add up several queues' per-minute series (same minutes, same length)."""
    if not series:
        return []
    out = list(series[0])
    for other in series[1:]:
        out = [
            HistoryPoint(a.minute, a.completed + b.completed, a.failed + b.failed)
            for a, b in zip(out, other, strict=False)
        ]
    return out


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... that is at least ``value`` (and at least 1)."""
    step = 1
    while step < 10**18:  # bounded: a garbage count must not spin the page
        for m in (1, 2, 5):
            if step * m >= value:
                return step * m
        step *= 10
    return step


def throughput_svg(points: Sequence[HistoryPoint]) -> str:
    """An SVG chart of completed (bars) and failed (red bars) attempts per minute."""
    inner_w = WIDTH - PAD_LEFT - 8
    inner_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    top = nice_ceiling(max([p.completed + p.failed for p in points] or [0]))
    n = max(len(points), 1)
    slot = inner_w / n
    bar = max(1.0, slot * 0.75)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="jobs completed and failed per minute" xmlns="http://www.w3.org/2000/svg">'
    ]
    for frac in (0, 0.5, 1):
        y = PAD_TOP + inner_h * (1 - frac)
        parts.append(f'<line class="grid" x1="{PAD_LEFT}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="axis" x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{round(top * frac)}</text>'
        )
    for i, p in enumerate(points):
        x = PAD_LEFT + i * slot + (slot - bar) / 2
        ok_h = inner_h * p.completed / top
        fail_h = inner_h * p.failed / top
        base = PAD_TOP + inner_h
        label = escape(f"{p.minute:%H:%M} UTC: {p.completed} completed, {p.failed} failed")
        parts.append(f"<g><title>{label}</title>")
        if p.completed:
            parts.append(f'<rect class="ok" x="{x:.1f}" y="{base - ok_h:.1f}" width="{bar:.1f}" height="{ok_h:.1f}"/>')
        if p.failed:
            y = base - ok_h - fail_h
            parts.append(f'<rect class="fail" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{fail_h:.1f}"/>')
        parts.append("</g>")
    for i in range(0, len(points), 10):
        x = PAD_LEFT + i * slot + slot / 2
        parts.append(
            f'<text class="axis" x="{x:.1f}" y="{HEIGHT - 6}" text-anchor="middle">{points[i].minute:%H:%M}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
