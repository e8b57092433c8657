"""Real multi-node Redis setups for the tests: a Cluster and a Sentinel group.

Every node is a real ``redis-server`` process on a free port in a temporary
directory. Cluster nodes also listen on port + 10000 (the cluster bus), so
ports are picked below 55536 with that port free too.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.redis_server import RedisServer


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_ports(count: int, start: int = 30000) -> list[int]:
    """``count`` ports p below 55536 with p and p + 10000 free."""
    ports: list[int] = []
    port = start
    while len(ports) < count:
        if port >= 55536:
            raise RuntimeError("no free ports for a cluster")
        if _port_free(port) and _port_free(port + 10000):
            ports.append(port)
        port += 1
    return ports


def require_system_redis() -> None:
    """Skip (or, in CI, fail) unless the system's ``redis-server`` and ``redis-cli`` are on PATH.

    A Cluster and a Sentinel group need both (``redis-cli --cluster create``,
    sentinel mode); the embedded server of the ``test`` extra has no
    ``redis-cli``, so these tests do not run on it.
    """
    missing = [name for name in ("redis-server", "redis-cli") if shutil.which(name) is None]
    if missing:
        message = f"Cluster and Sentinel tests need {' and '.join(missing)} on PATH: apt-get install redis-server"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _redis_cli(*args: str, timeout: float = 30) -> str:
    binary = shutil.which("redis-cli")
    if binary is None:
        raise RuntimeError("redis-cli is not installed (apt-get install redis-server)")
    done = subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"redis-cli {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return done.stdout


class RedisCluster:
    """A real Redis Cluster of ``masters`` masters and ``replicas`` replicas each."""

    def __init__(
        self,
        directory: Path,
        *,
        masters: int = 3,
        replicas: int = 0,
        start_port: int = 30000,
        appendonly: bool = False,
    ) -> None:
        require_system_redis()
        ports = cluster_ports(masters * (1 + replicas), start_port)
        self.masters = masters
        self.replicas = replicas
        self.nodes = [
            RedisServer(
                directory / str(port),
                port=port,
                appendonly=appendonly,
                extra=[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                ],
            )
            for port in ports
        ]

    @property
    def url(self) -> str:
        """The ``redis+cluster://`` URL naming every node."""
        hosts = ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)
        return f"redis+cluster://{hosts}"

    def start(self) -> None:
        """Start the nodes, create the cluster and wait until it serves every slot."""
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        _redis_cli("--cluster", "create", *addresses, "--cluster-replicas", str(self.replicas), "--cluster-yes")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            states = [
                _redis_cli("-p", str(node.port), "cluster", "info").split("cluster_state:")[1].split()[0]
                for node in self.nodes
            ]
            if all(state == "ok" for state in states):
                return
            time.sleep(0.1)
        raise RuntimeError("the cluster did not reach cluster_state:ok")

    def node_for(self, key: str) -> RedisServer:
        """The master node that serves ``key``'s slot."""
        out = _redis_cli("-p", str(self.nodes[0].port), "cluster", "keyslot", key)
        slot = int(out.strip())
        for line in _redis_cli("-p", str(self.nodes[0].port), "cluster", "nodes").splitlines():
            fields = line.split()
            if "master" not in fields[2]:
                continue
            port = int(fields[1].split(":")[1].split("@")[0])
            for part in fields[8:]:
                low, _, high = part.partition("-")
                if low.isdigit() and int(low) <= slot <= int(high or low):
                    return next(node for node in self.nodes if node.port == port)
        raise RuntimeError(f"no master serves slot {slot}")

    def wait_ok(self, timeout: float = 30) -> None:
        """Wait until every node reports cluster_state:ok."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                states = [
                    _redis_cli("-p", str(node.port), "cluster", "info").split("cluster_state:")[1].split()[0]
                    for node in self.nodes
                ]
            except RuntimeError:
                states = []
            if states and all(state == "ok" for state in states):
                return
            time.sleep(0.1)
        raise RuntimeError("the cluster did not reach cluster_state:ok")

    def stop(self) -> None:
        """Stop every node."""
        for node in self.nodes:
            node.stop()


class SentinelGroup:
    """One master, one replica and three sentinels watching them as ``service``."""

    def __init__(self, directory: Path, *, service: str = "mymaster") -> None:
        require_system_redis()
        self.service = service
        self.master = RedisServer(directory / "master")
        self.replica = RedisServer(directory / "replica", extra=["--replicaof", "127.0.0.1", str(self.master.port)])
        self.sentinels = [RedisServer(directory / f"sentinel{i}", sentinel=True) for i in range(3)]
        self.directory = directory

    @property
    def url(self) -> str:
        """The ``redis+sentinel://`` URL naming every sentinel."""
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.service}/0"

    def start(self) -> None:
        """Start master, replica and sentinels; wait until the replica is in sync."""
        self.master.start()
        self.replica.start()
        for sentinel in self.sentinels:
            sentinel.sentinel_config = (
                f"sentinel monitor {self.service} 127.0.0.1 {self.master.port} 2\n"
                f"sentinel down-after-milliseconds {self.service} 1000\n"
                f"sentinel failover-timeout {self.service} 5000\n"
                f"sentinel parallel-syncs {self.service} 1\n"
            )
            sentinel.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            info = _redis_cli("-p", str(self.replica.port), "info", "replication")
            if "master_link_status:up" in info:
                return
            time.sleep(0.1)
        raise RuntimeError("the replica did not sync")

    def stop(self) -> None:
        """Stop sentinels, replica and master."""
        for server in [*self.sentinels, self.replica, self.master]:
            server.stop()
