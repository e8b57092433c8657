"""The one rule for every name aioresque puts into a Redis key or a URL.

Queue names, job ids, handler names and key prefixes all follow it::

    1 to 200 characters: ASCII letters, digits and - _ . : @ + =, but not . or ..

Nothing else: no ``/`` (dashboard paths), not ``.`` or ``..`` (which every
browser and HTTP client resolves away as a URL path segment, even encoded), no ``*?[]`` (SCAN patterns), no
``{}`` (cluster hash tags), no whitespace or control characters (logs and
terminals), no non-ASCII (look-alike characters). :func:`check_name` is the
only place the rule is enforced; the producer API, the CLI, the dashboard's
routes and the worker's ``--queues`` all call it, and its error states the rule.
"""

from __future__ import annotations

import re
from typing import Literal

from ._errors import ConfigurationError

__all__ = ["NAME_PUNCTUATION", "NAME_RULE", "MAX_NAME_LENGTH", "NameKind", "check_name", "is_valid_name"]

MAX_NAME_LENGTH = 200
"""The longest queue name, job id, handler name or prefix."""

NAME_PUNCTUATION = "-_.:@+="
"""The punctuation a name may contain besides ASCII letters and digits."""

NAME_RULE = (
    f"1 to {MAX_NAME_LENGTH} characters: ASCII letters, digits and {' '.join(NAME_PUNCTUATION)}, but not . or .."
)
"""The rule in words, as every error message states it."""

NameKind = Literal["queue name", "job id", "handler name", "prefix"]

_VALID = re.compile(rf"(?!\.\.?\Z)[A-Za-z0-9{re.escape(NAME_PUNCTUATION)}]{{1,{MAX_NAME_LENGTH}}}")


def is_valid_name(name: object) -> bool:
    """True when ``name`` is a ``str`` that follows the rule."""
    return isinstance(name, str) and _VALID.fullmatch(name) is not None


def check_name(name: object, kind: NameKind = "queue name") -> str:
    """Return ``name`` when it follows the rule.

    Raises:
        ConfigurationError: it does not; the message names the kind, shows the
            name (shortened and escaped) and states the rule.
    """
    if is_valid_name(name):
        return name  # type: ignore[return-value]  # is_valid_name checked the type
    shown = repr(name[:60] + "…" if isinstance(name, str) and len(name) > 60 else name)
    raise ConfigurationError(f"invalid {kind} {shown}: use {NAME_RULE}")
