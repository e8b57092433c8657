"""Lua scripts: headers, includes, packaging and the NOSCRIPT fallback."""

from __future__ import annotations

from importlib import resources

import pytest
from redis.asyncio import Redis

from aioresque import Queue, _scripts
from tests.conftest import single_node_only

SCRIPTS = sorted(
    p.name.removesuffix(".lua")
    for p in (resources.files("aioresque") / "lua").iterdir()
    if p.name.endswith(".lua") and not p.name.startswith("_")
)


def test_scripts_ship_in_the_package() -> None:
    assert {"enqueue", "claim", "settle", "extend", "watch"} <= set(SCRIPTS)


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_script_has_a_header(name: str) -> None:
    source = _scripts.load(name).source
    for word in ("KEYS:", "ARGV:", "Returns:"):
        assert f"-- {word}" in source, f"{name}.lua lacks a '{word}' header line"
    assert "@include" not in source


READ_ONLY_OR_SELF_CHECKED = {"watch", "register"}  # one write after reads / a type check of their own


@pytest.mark.parametrize("name", sorted(set(SCRIPTS) - READ_ONLY_OR_SELF_CHECKED))
def test_every_writing_script_includes_the_checks(name: str) -> None:
    # Redis keeps the writes a failing script made: each checks before it writes (_guard.lua).
    assert "local function check_types" in _scripts.load(name).source


def test_no_script_increments_a_counter_that_could_fail() -> None:
    # HINCRBY fails on a field that is not an integer: counters go through bump() (a pcall).
    for path in (resources.files("aioresque") / "lua").iterdir():
        if path.name.endswith(".lua"):
            assert "redis.call('HINCRBY'" not in path.read_text(), path.name


@single_node_only
async def test_noscript_falls_back_to_eval(queue: Queue, redis: Redis) -> None:
    await redis.script_flush()
    job = await queue.enqueue("add", 1, 2)
    assert await redis.script_exists(_scripts.load("enqueue").sha) == [True]
    await redis.script_flush()
    raw = await _scripts.run(redis, "watch", [queue.keys.state, queue.keys.watched], [job.id])
    assert b'"status":"queued"' in raw
