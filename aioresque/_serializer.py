"""Serializers turn job arguments and results into bytes and back.

The default is JSON (through orjson when it is installed, else the standard
library). Pickle is deliberately not offered as a default: anyone who can
write to Redis could then run code in every worker.
"""

from __future__ import annotations

import json
from typing import Any, Protocol, runtime_checkable

try:  # orjson is optional: faster, same output for the types JSON supports.
    import orjson
except ImportError:  # pragma: no cover - exercised only without orjson
    orjson = None  # type: ignore[assignment]


@runtime_checkable
class Serializer(Protocol):
    """What a serializer must do. Both methods may raise on bad input."""

    def dumps(self, value: Any) -> bytes:
        """Serialize ``value`` to bytes."""
        ...

    def loads(self, data: bytes) -> Any:
        """Deserialize bytes produced by :meth:`dumps`."""
        ...


class JsonSerializer:
    """JSON serializer: orjson when installed, the standard library otherwise.

    Tuples come back as lists, as in any JSON round trip.
    """

    def dumps(self, value: Any) -> bytes:
        """Serialize ``value`` to JSON bytes; raises ``TypeError`` if it cannot."""
        if orjson is not None:
            try:
                return orjson.dumps(value)
            except orjson.JSONEncodeError as exc:
                raise TypeError(str(exc)) from exc
        return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()

    def loads(self, data: bytes) -> Any:
        """Deserialize JSON bytes; raises ``ValueError`` on malformed input."""
        if orjson is not None:
            return orjson.loads(data)
        return json.loads(data)

    def __repr__(self) -> str:
        return f"JsonSerializer(orjson={orjson is not None})"


def loads_json(data: bytes | str) -> Any:
    """Parse the JSON that the Lua scripts write (state records)."""
    if orjson is not None:
        return orjson.loads(data)
    return json.loads(data)


def dumps_json(value: Any) -> bytes:
    """Write JSON for records Lua or people read (error records)."""
    if orjson is not None:
        return orjson.dumps(value)
    return json.dumps(value, separators=(",", ":")).encode()
