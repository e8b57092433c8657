"""The template filters of the dashboard's pages: pure functions, no Redis, no HTTP.

Each one turns a value into text for a page and never raises, whatever a
record held: a page shows what it can and describes the rest.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from urllib.parse import quote

from .._cli_format import short_duration

__all__ = ["ago", "duration", "json_text", "segment", "when"]


def segment(value: object) -> str:
    """A name quoted as one URL path segment: every character but letters, digits and ``-_.~`` escaped."""
    return quote(str(value), safe="")


def json_text(value: object, indent: int | None = None) -> str:
    """Arguments or a result as JSON text for a page; never raises (too deep a value is described instead)."""
    try:
        return json.dumps(value, indent=indent, ensure_ascii=False, default=repr)
    except Exception:  # noqa: BLE001 - too deep (RecursionError), circular, or a foreign repr that raises
        return "(cannot be shown: nested too deep or not JSON)"


def ago(value: object) -> str:
    """How long ago (or in how long) an aware datetime is, e.g. ``"3m ago"``; ``"-"`` for anything else."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        return "-"
    seconds = (datetime.now(UTC) - value).total_seconds()
    if seconds < 0:
        return "in " + duration(-seconds)
    return duration(seconds) + " ago"


def duration(seconds: object) -> str:
    """Seconds as a short duration (``"4.2s"``, ``"3m"``, ``"2h"``); ``"-"`` for anything but a finite number."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
        return "-"
    value = max(0.0, float(seconds))
    return f"{value:.1f}s" if value < 10 else short_duration(value)


def when(value: object) -> str:
    """A datetime as ``"2026-01-01 12:00:00 UTC"``; ``"-"`` for anything else."""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if isinstance(value, datetime) else "-"
