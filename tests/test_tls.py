"""TLS: ``rediss://`` URLs carry the CA, client certificate and key in their query string.

A CA, a server certificate and a client certificate are made with openssl
in a temporary directory; a private ``redis-server`` serves TLS only to
clients that present a certificate that CA signed.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest
from redis.asyncio import Redis
from redis.asyncio import RedisCluster as RedisClusterClient

from aioresque import ConfigurationError, Queue, Worker
from aioresque._connect import connect
from tests import jobs_for_tests
from tests.redis_cluster import RedisCluster, cluster_ports
from tests.redis_server import RedisServer, free_port

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make certificates")


@dataclass(frozen=True)
class Certificates:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path
    """A CA that signed nothing here."""


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _signed(directory: Path, name: str, ca: str, extensions: str) -> None:
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-subj", f"/CN={name}",
             "-out", f"{name}.csr", cwd=directory)  # fmt: skip
    (directory / f"{name}.ext").write_text(extensions)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-CAcreateserial",
             "-days", "2", "-out", f"{name}.crt", "-extfile", f"{name}.ext", cwd=directory)  # fmt: skip


def make_certificates(directory: Path) -> Certificates:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA."""
    directory.mkdir(parents=True, exist_ok=True)
    for ca in ("ca", "other-ca"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.crt",
                 "-days", "2", "-subj", f"/CN=aioresque test {ca}", cwd=directory)  # fmt: skip
    _signed(directory, "server", "ca", "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _signed(directory, "client", "ca", "extendedKeyUsage=clientAuth\n")
    return Certificates(
        directory / "ca.crt",
        directory / "server.crt",
        directory / "server.key",
        directory / "client.crt",
        directory / "client.key",
        directory / "other-ca.crt",
    )


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def tls_port(tmp_path_factory: pytest.TempPathFactory, certificates: Certificates) -> Iterator[int]:
    """A redis-server with a TLS port that requires a client certificate (its plain port is for readiness)."""
    port = free_port()
    server = RedisServer(
        tmp_path_factory.mktemp("tls-redis"),
        extra=[
            "--tls-port", str(port),
            "--tls-cert-file", str(certificates.server_cert),
            "--tls-key-file", str(certificates.server_key),
            "--tls-ca-cert-file", str(certificates.ca),
            "--tls-auth-clients", "yes",
        ],
    )  # fmt: skip
    try:
        server.start()
    except (RuntimeError, ConfigurationError) as exc:  # a server built without TLS
        pytest.skip(f"redis-server has no TLS support: {exc}")
    try:
        yield port
    finally:
        server.stop()


def tls_query(certificates: Certificates, ca: Path | None = None) -> str:
    return (
        f"ssl_ca_certs={ca or certificates.ca}&ssl_certfile={certificates.client_cert}"
        f"&ssl_keyfile={certificates.client_key}&ssl_cert_reqs=required"
    )


async def test_jobs_run_over_tls_with_the_url_options(tls_port: int, certificates: Certificates) -> None:
    url = f"rediss://127.0.0.1:{tls_port}/0?{tls_query(certificates)}"
    async with Queue.from_url(url, prefix="tls") as queue:
        job = await queue.enqueue("add", 20, 22)
        with anyio.fail_after(20):
            await Worker(url, jobs_for_tests, prefix="tls", burst=True).run()
        assert await job.result(timeout=5) == 42


async def test_a_wrong_ca_is_a_clear_error(tls_port: int, certificates: Certificates) -> None:
    url = f"rediss://127.0.0.1:{tls_port}/0?{tls_query(certificates, certificates.other_ca)}"
    async with Queue.from_url(url, prefix="tls") as queue:
        with pytest.raises(ConfigurationError, match=r"certificate was not accepted.*ssl_ca_certs"):
            await queue.enqueue("add", 1, 1)
    with anyio.fail_after(10), pytest.raises(ConfigurationError, match="ssl_ca_certs"):
        await Worker(url, jobs_for_tests, prefix="tls").run()  # refused at start, not retried for ever


async def test_cluster_and_sentinel_urls_take_the_tls_options(certificates: Certificates) -> None:
    query = tls_query(certificates)
    cluster = connect(f"rediss+cluster://127.0.0.1:7000,127.0.0.1:7001?{query}&ssl_check_hostname=false")
    assert isinstance(cluster, RedisClusterClient)
    options = cluster.get_connection_kwargs()
    assert options["ssl_ca_certs"] == str(certificates.ca)
    assert options["ssl_certfile"] == str(certificates.client_cert)
    assert options["ssl_keyfile"] == str(certificates.client_key)
    assert options["ssl_cert_reqs"] == "required"
    assert options["ssl_check_hostname"] is False
    sentinel = connect(f"rediss+sentinel://127.0.0.1:26379/mymaster/2?{query}")
    assert isinstance(sentinel, Redis)
    try:
        kwargs = sentinel.connection_pool.connection_kwargs
        assert kwargs["ssl_ca_certs"] == str(certificates.ca) and kwargs["db"] == 2
    finally:
        await sentinel.aclose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+cluster://h:7000?ssl_ca_certs=/ca.pem", "needs a TLS URL"),
        ("rediss+cluster://h:7000?sslcacerts=/ca.pem", "unknown option 'sslcacerts'"),
        ("rediss+cluster://h:7000?ssl_cert_reqs=maybe", "ssl_cert_reqs must be one of"),
        ("rediss://h:6380/0?ssl_cert_reqs=maybe", "ssl_cert_reqs must be one of"),
        ("rediss+cluster://h:7000?socket_timeout=soon", "bad value 'soon' for socket_timeout"),
    ],
)
def test_bad_tls_options_are_refused(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        connect(url)


async def test_jobs_run_on_a_tls_cluster(tmp_path: Path, certificates: Certificates) -> None:
    cluster = RedisCluster(tmp_path / "nodes", start_port=41000)
    tls_ports = cluster_ports(len(cluster.nodes), 43000)
    for node, port in zip(cluster.nodes, tls_ports, strict=True):
        node.args += [
            "--tls-port", str(port),
            "--tls-cert-file", str(certificates.server_cert),
            "--tls-key-file", str(certificates.server_key),
            "--tls-ca-cert-file", str(certificates.ca),
            "--tls-cluster", "yes",
            "--tls-auth-clients", "yes",
        ]  # fmt: skip
    try:
        cluster.start()
        url = f"rediss+cluster://127.0.0.1:{tls_ports[0]}?{tls_query(certificates)}"
        async with Queue.from_url(url, prefix="tls-cluster") as queue:
            jobs = [await queue.sibling(name).enqueue("add", 1, 2) for name in ("a", "b", "c")]
            with anyio.fail_after(30):
                await Worker(url, jobs_for_tests, prefix="tls-cluster", queues=["a", "b", "c"], burst=True).run()
            assert [await job.result(timeout=5) for job in jobs] == [3, 3, 3]
    finally:
        for node in cluster.nodes:
            node.stop()
