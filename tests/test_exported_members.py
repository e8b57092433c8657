"""The public surface: ``__all__`` is honest, sorted and documented."""

from __future__ import annotations

import inspect

import aioresque


def test_all_is_sorted_and_complete() -> None:
    assert aioresque.__all__ == sorted(aioresque.__all__)
    public = {name for name in vars(aioresque) if not name.startswith("_")}
    assert public == set(aioresque.__all__) - {"__version__"}


def test_every_public_name_is_documented() -> None:
    for name in aioresque.__all__:
        value = getattr(aioresque, name)
        if name == "__version__":
            continue
        assert inspect.getdoc(value), f"{name} has no docstring"
        if inspect.isclass(value):
            for attr, member in vars(value).items():
                if attr.startswith("_") or not callable(member):
                    continue
                assert inspect.getdoc(member), f"{name}.{attr} has no docstring"
