"""The version of the job state record, and which versions a worker claims.

Every state record (the queue's ``state`` HASH, see docs/redis-layout.md; JSON written only by the
Lua scripts) carries its format version in ``"v"``; a record without one is
format 1. The rules that let releases run side by side during a rolling
deploy (docs/upgrading.md):

* **Bookkeeping works on every version.** The common fields (``status``,
  ``name``, ``attempts``, ``failures``, ``lost``, the ``*_at`` times,
  ``worker``, ``reason``, ``max_attempts``, ``timeout``) keep their meaning in
  every format, and every script changes a record in place, keeping fields
  it does not know. So recovery, retries, cancellation, the admin actions and
  ``Job.info()`` handle a record of any version.
* **Claiming needs understanding.** A worker claims only records whose ``v``
  is at most what it reads (``Worker._reads_format``, default
  :data:`READS`). A newer record it pops is put back at the back of the queue
  for a newer worker, counted in the queue's ``newer_format`` counter and
  logged; it is never run, rewritten or dropped. A record whose ``v`` is not
  a positive integer is treated the same way (not understood, left alone).
* **A format bump is additive.** Format N+1 may add fields and give new
  meaning to a job (say, a compressed payload) that only N+1 workers can run;
  it must not change the meaning of a common field, the key layout or the
  ``jobs`` payload of format-N records. Workers of release N+1 read N and
  N+1; release N+1 keeps writing N until every worker reads N+1 (the upgrade
  policy's two-step bump).
* **cjson round trips** (the scripts' JSON) turn an empty array into ``{}``
  and keep 14 significant digits: new fields must not rely on either.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._decode import integer

FORMAT = 1
"""The state record format this release writes (``enqueue.lua``)."""

READS = 1
"""The newest state record format this release's workers claim."""


def record_format(state: Mapping[str, Any]) -> int | None:
    """The format version of a decoded state record.

    Returns:
        ``v`` as an int (1 when it is missing), or None when ``v`` is not a
        positive integer (a record this code cannot interpret).
    """
    v = state.get("v", 1)
    if not isinstance(v, int | float):  # text such as "2" is not a version
        return None
    return integer(v, 1)  # never raises: NaN, infinities and fractions are None


def claimable(state: Mapping[str, Any], reads: int = READS) -> bool:
    """True when a worker that reads formats up to ``reads`` may claim this record.

    The same rule as ``too_new()`` in ``lua/_take.lua``, which is what really
    decides (inside the claim script); this is its tested reference.
    """
    v = record_format(state)
    return v is not None and v <= reads
