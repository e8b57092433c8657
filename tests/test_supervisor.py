"""``worker --processes N``: the supervisor's decisions and real child processes."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import anyio

from aioresque import Call, Queue, list_workers
from aioresque._cli import build_parser
from aioresque._cli_worker import _child_base_command
from aioresque._supervisor import RestartPolicy, child_commands
from tests.cli_helpers import run, spawned, worker_command
from tests.redis_server import RedisServer


def test_restart_delay_grows_only_for_children_that_die_young() -> None:
    policy = RestartPolicy(min_uptime=5, base=0.5, cap=4)
    assert [policy.delay(n) for n in range(6)] == [0.0, 0.5, 1.0, 2.0, 4.0, 4.0]


def test_each_child_gets_its_own_metrics_port() -> None:
    commands = child_commands(["w"], 3, 9100)
    assert commands == [
        ["w", "--metrics-port", "9100"],
        ["w", "--metrics-port", "9101"],
        ["w", "--metrics-port", "9102"],
    ]
    assert child_commands(["w"], 2, None) == [["w"], ["w"]]


async def test_burst_with_two_processes_uses_both(redis_url: str, prefix: str, queue: Queue) -> None:
    jobs = await queue.enqueue_many([Call("slow_pid", (0.05,)) for _ in range(40)])
    command = worker_command(redis_url, prefix, "--burst", "--processes", "2", "--concurrency", "2")
    result = await anyio.to_thread.run_sync(lambda: run(command, timeout=60))
    assert result.returncode == 0, result.stderr
    pids = {await job.result(timeout=1) for job in jobs}
    assert len(pids) == 2
    assert os.getpid() not in pids


async def test_a_killed_child_is_restarted_and_sigterm_stops_all(redis_url: str, prefix: str, queue: Queue) -> None:
    with spawned(worker_command(redis_url, prefix, "--processes", "2")) as supervisor:
        with anyio.fail_after(20):
            while len(workers := await list_workers(queue.redis, prefix=prefix)) < 2:
                await anyio.sleep(0.05)
        victim = workers[0].pid
        os.kill(victim, signal.SIGKILL)
        with anyio.fail_after(20):
            while True:
                pids = {w.pid for w in await list_workers(queue.redis, prefix=prefix) if not w.stale}
                if len(pids - {victim}) == 2:
                    break
                await anyio.sleep(0.05)
        job = await queue.enqueue("add", 1, 2)
        assert await job.result(timeout=10) == 3
        supervisor.send_signal(signal.SIGTERM)
        code = await anyio.to_thread.run_sync(lambda: supervisor.wait(timeout=20))
    assert code == 0


def test_children_get_the_url_in_their_environment_and_a_refusal_stops_all(tmp_path: Path) -> None:
    # The password must not be on any command line (`ps` shows those to every user).
    server = RedisServer(tmp_path / "redis", extra=["--maxmemory-policy", "allkeys-lru"])
    server.start()
    try:
        url = f"redis://default:s3cret@127.0.0.1:{server.port}/0"
        args = build_parser().parse_args(["worker", "tests.jobs_for_tests", "--redis-url", url, "--processes", "2"])
        assert "s3cret" not in " ".join(_child_base_command(args))
        # Each child refuses the evicting Redis: the supervisor exits 2 at once, it does not restart them.
        started = time.monotonic()
        done = run(worker_command(server.url, "sup", "--processes", "2"), timeout=30)
        assert done.returncode == 2, done.stderr
        assert time.monotonic() - started < 15
        assert "refused to start" in done.stderr and "restarting" not in done.stderr
        assert "maxmemory-policy is allkeys-lru" in done.stderr
    finally:
        server.stop()
