"""The deprecation helper: old names keep working, with a warning that says until when."""

from __future__ import annotations

import warnings

import pytest

from aioresque._deprecation import deprecated_alias, deprecation_message


def new_name(a: int, b: int = 1) -> int:
    """Add two numbers."""
    return a + b


def test_the_alias_warns_and_forwards() -> None:
    old_name = deprecated_alias("old_name", new_name, since="0.2", removed_in="0.3")
    with pytest.warns(DeprecationWarning, match=r"old_name is deprecated since aioresque 0\.2") as caught:
        assert old_name(2, b=3) == 5
    message = str(caught[0].message)
    assert "will be removed in 0.3" in message and "use new_name instead" in message
    assert caught[0].filename == __file__  # points at the caller, not the helper


def test_each_call_warns() -> None:
    old_name = deprecated_alias("old_name", new_name, since="0.2", removed_in="1.0", new="aioresque.new_name")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old_name(1)
        old_name(2)
    assert [w.category for w in caught] == [DeprecationWarning, DeprecationWarning]
    assert "use aioresque.new_name instead" in str(caught[0].message)


def test_the_alias_documents_itself() -> None:
    old_name = deprecated_alias("old_name", new_name, since="0.2", removed_in="0.3")
    assert old_name.__name__ == "new_name"
    assert old_name.__doc__ is not None and old_name.__doc__.startswith("Deprecated: old_name is deprecated")


@pytest.mark.parametrize(("since", "removed_in"), [("0.3", "0.3"), ("0.3", "0.2"), ("1.0", "0.9.9")])
def test_removal_must_come_later(since: str, removed_in: str) -> None:
    with pytest.raises(ValueError, match="must come after"):
        deprecation_message("a", "b", since=since, removed_in=removed_in)


def test_release_numbers_are_checked() -> None:
    with pytest.raises(ValueError, match="not a release number"):
        deprecation_message("a", "b", since="0.2", removed_in="next")
