"""The public surface: ``__all__`` is honest, sorted and documented."""

from __future__ import annotations

import importlib
import inspect
import types
import typing

import pytest

import aioresque

PUBLIC_MODULES = ("aioresque.fastapi", "aioresque.testing", "aioresque.testing.pytest_plugin", "aioresque.tracing")
"""Public modules imported on demand (an optional dependency, or for tests only)."""


def test_all_is_sorted_and_complete() -> None:
    assert aioresque.__all__ == sorted(aioresque.__all__)
    # Importing a public submodule (aioresque.testing) binds its name in the
    # package; those are checked on their own below.
    public = {
        name
        for name, value in vars(aioresque).items()
        if not name.startswith("_") and not (isinstance(value, types.ModuleType) and name not in aioresque.__all__)
    }
    assert public == set(aioresque.__all__) - {"__version__"}


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_public_modules_have_an_honest_documented_all(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert inspect.getdoc(module), f"{module_name} has no docstring"
    exported: list[str] = module.__all__
    assert exported == sorted(exported)
    defined_here = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and getattr(value, "__module__", module_name).startswith(module_name)
        and not isinstance(value, types.ModuleType)
        and (inspect.isclass(value) or inspect.isfunction(value) or hasattr(value, "_pytestfixturefunction"))
    }
    assert defined_here <= set(exported), f"{module_name}: public but not in __all__: {defined_here - set(exported)}"
    for name in exported:
        value = getattr(module, name)
        # Type aliases (``Callable[...]``, ``Annotated[...]``) carry their
        # docstring in the source only, where the API reference reads it.
        if typing.get_origin(value) is None and (inspect.isclass(value) or callable(value)):
            assert inspect.getdoc(value), f"{module_name}.{name} has no docstring"
            for attr, member in vars(value).items() if inspect.isclass(value) else ():
                if not attr.startswith("_") and (callable(member) or isinstance(member, property)):
                    assert inspect.getdoc(member), f"{module_name}.{name}.{attr} has no docstring"


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
