"""One rule for queue names, job ids, handler names and prefixes."""

from __future__ import annotations

import pytest

from aioresque import ConfigurationError
from aioresque._names import MAX_NAME_LENGTH, NAME_PUNCTUATION, NAME_RULE, check_name, is_valid_name


def test_every_allowed_character_passes() -> None:
    name = "Az09" + NAME_PUNCTUATION
    assert check_name(name) == name
    assert check_name("x" * MAX_NAME_LENGTH, "job id") == "x" * MAX_NAME_LENGTH


@pytest.mark.parametrize(
    "name",
    ["", "a/b", "a*", "a?", "a[b]", "a{b}", "a b", "a\rb", "a\x00b", "a\nb", "é", "x" * (MAX_NAME_LENGTH + 1), "a%2f"],
)
def test_anything_else_is_refused_with_the_rule_in_the_message(name: str) -> None:
    assert not is_valid_name(name)
    with pytest.raises(ConfigurationError) as caught:
        check_name(name, "queue name")
    assert NAME_RULE in str(caught.value)
    assert "invalid queue name" in str(caught.value)


def test_non_strings_are_refused() -> None:
    for value in (None, 1, b"default"):
        assert not is_valid_name(value)
        with pytest.raises(ConfigurationError):
            check_name(value, "handler name")


def test_a_huge_name_is_shortened_in_the_message() -> None:
    with pytest.raises(ConfigurationError) as caught:
        check_name("q" * 1_000_000)
    assert len(str(caught.value)) < 400
