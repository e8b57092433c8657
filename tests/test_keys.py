"""Keys: one module spells them, and a queue's keys share one cluster slot."""

from __future__ import annotations

import re
from pathlib import Path

from redis.crc import key_slot

from aioresque._keys import QueueKeys, queue_registry

PACKAGE = Path(__file__).resolve().parent.parent / "aioresque"


def test_all_keys_of_a_queue_hash_to_one_slot() -> None:
    for name in ["default", "emails", "a.b-c_d", "high"]:
        keys = QueueKeys("aioresque", name)
        slots = {key_slot(k.encode()) for k in (*keys.all_fixed(), keys.notify("some-job-id"))}
        assert len(slots) == 1, (name, slots)


def test_keys_are_readable_and_tagged() -> None:
    keys = QueueKeys("aioresque", "default")
    assert keys.queue == "aioresque:{default}:queue"
    assert keys.notify("j1") == "aioresque:{default}:notify:j1"
    assert queue_registry("aioresque") == "aioresque:{meta}:queues"
    assert len(set(keys.all_fixed())) == len(keys.all_fixed())


def test_no_key_literal_outside_the_keys_module() -> None:
    # A key is "<prefix>:{tag}:suffix": look for a colon glued to a brace
    # ("x:{", "}:x") or a known key suffix ending a string literal.
    suffixes = "|".join(
        ["queue", "scheduled", "active", "done", "dead", "jobs", "state", "results", "errors", "progress", "events"]
    )
    pattern = re.compile(r"""(\}:\w|:\{|:(""" + suffixes + r""")["'])""")
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "_keys.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert offenders == []


def test_lua_scripts_touch_keys_only_through_keys() -> None:
    # Every redis.call's first key argument must come from KEYS or the K table
    # built from KEYS, never from a string built in Lua.
    for path in (PACKAGE / "lua").glob("*.lua"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for match in re.finditer(r"redis\.call\('(\w+)', ([^,)]+)", line):
                command, first = match.groups()
                if command in {"TIME"}:
                    continue
                assert first.startswith(("KEYS[", "K.", "key", "set")), f"{path.name}:{number}: {line.strip()}"
