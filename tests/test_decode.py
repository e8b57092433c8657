"""The decoding boundary: nothing read from Redis makes these helpers raise."""

from __future__ import annotations

import math

import pytest

from aioresque._decode import MAX_MS, integer, number, printable, strict_text, text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"plain", "plain"),
        ("already text", "already text"),
        (b"\xff\xfe", "\\xff\\xfe"),
        (b"caf\xc3\xa9", "café"),
        (bytearray(b"\x80"), "\\x80"),
        (None, ""),
        (12, "12"),
        (1.5, "1.5"),
    ],
)
def test_text_never_raises_and_shows_foreign_bytes(value: object, expected: str) -> None:
    assert text(value) == expected


def test_text_survives_an_object_whose_str_raises() -> None:
    class Hostile:
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert text(Hostile()) == "<unprintable Hostile>"


def test_strict_text_keeps_only_valid_utf8() -> None:
    assert strict_text(b"job-1") == "job-1"
    assert strict_text(b"\xff") is None
    assert strict_text(7) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"12", 12),
        ("12.0", 12),
        (12, 12),
        (b"1.5", None),
        (b"z", None),
        (b"nan", None),
        (b"inf", None),
        (b"1e400", None),
        (True, None),
        (2**80, None),
        (b"\xff", None),
        (b"9" * 100, None),
    ],
)
def test_integer_accepts_only_bounded_integers(value: object, expected: int | None) -> None:
    assert integer(value) == expected


def test_bounds_reject_timestamps_past_year_9999() -> None:
    assert integer(MAX_MS, 0, MAX_MS) == MAX_MS
    assert integer(MAX_MS + 1, 0, MAX_MS) is None
    assert number(b"-1", 0) is None


def test_number_is_always_finite() -> None:
    for raw in (b"nan", b"-inf", b"1e999", float("nan"), math.inf):
        assert number(raw) is None
    assert number(b"2.5") == 2.5


def test_printable_escapes_terminal_control_sequences() -> None:
    hostile = "boom\x1b[2J\x1b]0;pwned\x07\rfake\x00\u202eevil\nnext"
    shown = printable(hostile)
    assert "\x1b" not in shown and "\r" not in shown and "\x00" not in shown and "\u202e" not in shown
    assert "\\x1b[2J" in shown and "\\x0d" in shown and "\\u202e" in shown
    assert shown.endswith("\nnext")
    assert printable(hostile, keep_newlines=False).endswith("\\nnext")
    assert printable(b"\xff\x1b") == "\\xff\\x1b"
