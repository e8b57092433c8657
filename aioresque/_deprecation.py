"""Renaming a public name without breaking anyone: warn for a release, then remove.

The policy (docs/upgrading.md): a public name (function, class, method,
argument) that changes keeps working under its old spelling for at least one
minor release, warning with a :class:`DeprecationWarning` that names the new
spelling and the release the old one goes away in; the CHANGELOG lists it
under "### Deprecated" in the release that starts warning, and under
"### Removed" in the one that removes it. Nothing is deprecated yet.

Usage, when ``Queue.old_name`` becomes ``Queue.new_name`` in 0.3::

    class Queue:
        old_name = deprecated_alias("old_name", new_name, since="0.3", removed_in="0.4")
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def deprecation_message(old: str, new: str, *, since: str, removed_in: str) -> str:
    """The warning text for ``old`` renamed to ``new``.

    Raises:
        ValueError: ``removed_in`` is not a later release than ``since``.
    """
    if _release(removed_in) <= _release(since):
        raise ValueError(f"{old}: removed_in ({removed_in}) must come after since ({since})")
    return f"{old} is deprecated since aioresque {since} and will be removed in {removed_in}; use {new} instead"


def deprecated_alias(
    old: str, target: Callable[P, R], *, since: str, removed_in: str, new: str | None = None
) -> Callable[P, R]:
    """A callable under the old name ``old`` that warns, then calls ``target``.

    Args:
        old: the old public name, as users wrote it (``"Queue.old_name"``).
        target: the function or class it now forwards to.
        since: the release that starts warning.
        removed_in: the release that removes ``old`` (at least one minor later).
        new: the new name in the message (default: ``target``'s qualified name).

    Returns:
        A wrapper with ``target``'s signature; each call emits a
        :class:`DeprecationWarning` pointing at the caller's line.
    """
    message = deprecation_message(old, new or target.__qualname__, since=since, removed_in=removed_in)

    @functools.wraps(target)
    def alias(*args: P.args, **kwargs: P.kwargs) -> R:
        warnings.warn(message, DeprecationWarning, stacklevel=2)
        return target(*args, **kwargs)

    alias.__doc__ = f"Deprecated: {message}."
    return alias


def _release(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        raise ValueError(f"not a release number: {version!r}") from None
