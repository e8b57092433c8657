"""Output helpers the admin commands share: tables, colours, durations, progress.

Colours are used only when the stream is a terminal and ``NO_COLOR`` is not
set, so piped output stays plain text.

Every piece of job data a command prints (ids, names, arguments, errors,
tracebacks, queue and worker names) goes through :func:`clean` or
:func:`shorten` first, which show terminal control characters as escapes
(:func:`aioresque._decode.printable`): an error message cannot clear the
screen, retitle the window or overwrite a line with ``\\r``. The only raw
escape sequences printed are the colours :func:`paint` adds afterwards.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from ._decode import printable
from ._decode import text as text_of

_CODES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "blue": "34", "cyan": "36"}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def use_colour(stream: TextIO) -> bool:
    """Whether to colour output written to ``stream``."""
    return stream.isatty() and "NO_COLOR" not in os.environ


def paint(text: str, style: str, enabled: bool) -> str:
    """``text`` wrapped in the ANSI codes of ``style`` (e.g. ``"red"`` or ``"bold red"``)."""
    if not enabled or not style:
        return text
    codes = ";".join(_CODES[s] for s in style.split())
    return f"\x1b[{codes}m{text}\x1b[0m"


def visible_len(text: str) -> int:
    """Length of ``text`` as shown, without ANSI codes."""
    return len(_ANSI.sub("", text))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], colour: bool) -> str:
    """Rows aligned under bold headers; cells may carry ANSI colours.

    Columns whose cells are all numbers are right-aligned.
    """
    widths = [visible_len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], visible_len(cell))
    numeric = [
        bool(rows) and all(_ANSI.sub("", row[i]).replace(".", "").replace("s", "").isdigit() for row in rows)
        for i in range(len(headers))
    ]

    def line(cells: Sequence[str]) -> str:
        out = []
        for i, cell in enumerate(cells):
            pad = " " * (widths[i] - visible_len(cell))
            out.append(pad + cell if numeric[i] else cell + pad)
        return "  ".join(out).rstrip()

    lines = [line([paint(h, "bold", colour) for h in headers])]
    lines += [line(row) for row in rows]
    return "\n".join(lines)


def parse_duration(text: str) -> float:
    """Seconds in ``"90"``, ``"90s"``, ``"15m"``, ``"2h"``, ``"7d"`` or ``"1w"``.

    Raises:
        argparse.ArgumentTypeError: the text is not such a duration.
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use e.g. 90s, 15m, 2h, 7d)")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def ago(when: datetime | None, now: datetime | None = None) -> str:
    """A short age such as ``"4s"``, ``"3m"``, ``"2h"`` or ``"5d"`` ("-" for None)."""
    if when is None:
        return "-"
    seconds = ((now or datetime.now(UTC)) - when).total_seconds()
    return short_duration(max(0.0, seconds))


def short_duration(seconds: float) -> str:
    """``seconds`` in the largest unit that keeps it readable."""
    if seconds < 1:
        return f"{seconds:.1f}s" if seconds else "0s"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def clean(value: object, *, multiline: bool = False) -> str:
    """Job data as text safe to print: control characters escaped, on one line unless ``multiline``."""
    return printable(value, keep_newlines=multiline)


def shorten(text: object, width: int) -> str:
    """Job data on one line, cut to ``width`` characters with an ellipsis, control characters escaped."""
    flat = " ".join(clean(text_of(text)[: width * 4 + 64]).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


class ProgressLine:
    """Prints ``label done/total`` on one rewritten stderr line, on a terminal only."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        """Report progress (the bulk operations' callback)."""
        if self.enabled:
            self.stream.write(f"\r{self.label} {done}/{total}")
            self.stream.flush()
            self.shown = True

    def close(self) -> None:
        """End the progress line."""
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


def jsonable(value: Any) -> Any:
    """``value`` with datetimes as ISO strings and tuples as lists, for ``--json``."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
