"""The one boundary where values read from Redis become Python text and numbers.

Everything that reaches Python from Redis passes through these helpers, and
none of them raises: foreign bytes, wrong types, non-finite or absurd numbers
come back as escaped text or as ``None``, so a single record written by
something other than aioresque can never stop a worker, a CLI command or a
dashboard page (``../DESIGN.md``: "decode at one boundary, never raise there").

* :func:`text` — any value to ``str`` for display and logging; bytes that are
  not UTF-8 are kept visible as ``\\xNN`` escapes.
* :func:`strict_text` — ``str`` only when the value is valid UTF-8, else None;
  for ids and names that must round-trip to Redis unchanged.
* :func:`integer` / :func:`number` — a bounded int / finite float, else None.
* :func:`printable` — text safe to write to a terminal: control characters
  (escape sequences, carriage returns, NUL) shown as escapes.
* :func:`too_deep` — whether a decoded value nests too deep to hand on.
* :func:`wrong_type` — whether a reply is Redis's WRONGTYPE error (a key of
  another Redis type, which readers show as unreadable); every other error
  (a refused permission, say) still raises (:func:`raise_unless_wrong_type`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

__all__ = [
    "MAX_DEPTH",
    "MAX_INT",
    "MAX_MS",
    "integer",
    "number",
    "printable",
    "raise_unless_wrong_type",
    "strict_text",
    "text",
    "too_deep",
    "wrong_type",
]

MAX_MS = 253_402_300_799_999
"""The last millisecond of year 9999: no timestamp from Redis is trusted past it."""

MAX_INT = 2**53
"""The largest integer read from Redis that is trusted (exact in Lua's doubles)."""

MAX_DEPTH = 64
"""The deepest nesting of lists and dicts a reader hands on (printing, ``--json``,
``dataclasses.asdict`` and templates recurse, and Python's stack does not)."""


def text(value: object) -> str:
    """Any value read from Redis as text; never raises.

    Bytes that are not valid UTF-8 are escaped (``b"\\xff"`` → ``"\\\\xff"``),
    so what the operator sees is what is stored. ``None`` becomes ``""``.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "backslashreplace")
    if value is None:
        return ""
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - a foreign object's __str__ may raise anything
        return f"<unprintable {type(value).__name__}>"


def strict_text(value: object) -> str | None:
    """The value as text when it is a ``str`` or valid UTF-8 bytes, else None; never raises."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None


def integer(value: object, lo: int = -MAX_INT, hi: int = MAX_INT) -> int | None:
    """The value as an int in ``[lo, hi]``, else None; never raises.

    Accepts ints, integral finite floats and their text forms (``b"12"``,
    ``"12.0"``); rejects booleans, NaN, infinities and anything out of range.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        result = value
    else:
        as_float = number(value)
        if as_float is None or not as_float.is_integer():
            return None
        result = int(as_float)
    return result if lo <= result <= hi else None


def number(value: object, lo: float = -float(MAX_INT), hi: float = float(MAX_INT)) -> float | None:
    """The value as a finite float in ``[lo, hi]``, else None; never raises."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        result = float(value) if not isinstance(value, int) or abs(value) <= MAX_INT else math.inf
    else:
        raw = strict_text(value)
        if raw is None or len(raw) > 64:
            return None
        try:
            result = float(raw)
        except ValueError:
            return None
    if not math.isfinite(result) or not lo <= result <= hi:
        return None
    return result


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def printable(value: object, *, keep_newlines: bool = True) -> str:
    """Text safe for a terminal: control characters from job data become visible escapes.

    ESC (terminal escape sequences), carriage return, backspace, NUL, C1
    controls, bidirectional overrides and lone surrogates (which a UTF-8
    stream cannot even encode) are shown as ``\\x1b``-style escapes;
    tabs, and newlines unless ``keep_newlines`` is False, pass through.
    """
    result = _CONTROL.sub(
        lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text(value)
    )
    if not keep_newlines:
        result = result.replace("\n", "\\n")
    return result


def too_deep(value: object, limit: int = MAX_DEPTH) -> bool:
    """True when ``value`` nests lists, tuples or dicts more than ``limit`` levels deep; never raises.

    Iterative, so it is safe on values nested deeper than Python's recursion limit.
    """
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: list[object] = list(item.values())
        elif isinstance(item, list | tuple):
            children = list(item)
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def wrong_type(reply: object) -> bool:
    """True when ``reply`` is Redis's WRONGTYPE error: a key holds another Redis type than ours.

    Readers treat such a key as unreadable (empty, and named); any other error
    reply is not theirs to hide.
    """
    return isinstance(reply, Exception) and "WRONGTYPE" in text(reply)[:200]


def raise_unless_wrong_type(replies: Iterable[object]) -> None:
    """Raise the first error reply of a pipeline run with ``raise_on_error=False`` that is not WRONGTYPE."""
    for reply in replies:
        if isinstance(reply, Exception) and not wrong_type(reply):
            raise reply
