"""The web layer and collector framework, with small in-test collectors."""

from __future__ import annotations

import asyncio
import base64
import gzip
import ssl
import threading
from pathlib import Path
from typing import Any

import aiohttp
import bcrypt
import pytest
import trustme
from aiohttp import web

from exporter.collector import SingleFlight
from exporter.http import create_app
from exporter.metrics import Family, gauge
from exporter.settings import Settings
from exporter.webconfig import WebConfigError, load_web_config


class CountingCollector:
    """Returns a gauge with how many times it ran; optionally slow, failing or hanging."""

    def __init__(self, name: str, delay: float = 0.0, fail: bool = False, hang: bool = False) -> None:
        self.name = name
        self.delay, self.fail, self.hang = delay, fail, hang
        self.runs = 0
        self.release = threading.Event()
        self._flight: SingleFlight[int] = SingleFlight(self._fetch)

    async def _fetch(self) -> int:
        self.runs += 1
        if self.hang:
            await asyncio.to_thread(self.release.wait)
        await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError("sensor exploded")
        return self.runs

    async def collect(self) -> list[Family]:
        runs = await self._flight.run()
        family = gauge(f"{self.name}_runs", "Runs so far.")
        family.add((), runs)
        return [family]

    async def close(self) -> None:
        self.release.set()


def settings(**kwargs: Any) -> Settings:
    return Settings(collector_timeout=kwargs.pop("timeout", 0.5), **kwargs)


async def test_failures_are_isolated_per_collector(aiohttp_client: Any) -> None:
    good, bad, hung = CountingCollector("good"), CountingCollector("bad", fail=True), \
        CountingCollector("hung", hang=True)
    client = await aiohttp_client(create_app(settings(), [good, bad, hung]))
    response = await client.get("/metrics")
    text = await response.text()
    assert response.status == 200
    assert 'kvm_scrape_collector_success{collector="good"} 1' in text
    assert 'kvm_scrape_collector_success{collector="bad"} 0' in text
    assert 'kvm_scrape_collector_success{collector="hung"} 0' in text
    assert "kvm_good_runs 1" in text
    assert "kvm_exporter_build_info{" in text
    landing = await (await client.get("/")).text()
    assert "failed: RuntimeError: sensor exploded" in landing
    assert "failed: timed out after 0.5s" in landing


async def test_hung_source_is_never_started_twice(aiohttp_client: Any) -> None:
    hung = CountingCollector("hung", hang=True)
    client = await aiohttp_client(create_app(settings(timeout=0.1), [hung]))
    for _ in range(5):
        assert 'collector="hung"} 0' in await (await client.get("/metrics")).text()
    assert hung.runs == 1
    hung.release.set()
    hung.hang = False
    text = await (await client.get("/metrics")).text()
    assert 'kvm_scrape_collector_success{collector="hung"} 1' in text
    assert "kvm_hung_runs 2" in text  # a fresh run after the stale one finished


async def test_concurrent_scrapes_share_one_collection(aiohttp_client: Any) -> None:
    slow = CountingCollector("slow", delay=0.2)
    client = await aiohttp_client(create_app(settings(timeout=2), [slow]))
    texts = await asyncio.gather(*(client.get("/metrics") for _ in range(5)))
    assert slow.runs == 1
    for response in texts:
        assert "kvm_slow_runs 1" in await response.text()
    # Sequential scrapes never get a cached copy.
    assert "kvm_slow_runs 2" in await (await client.get("/metrics")).text()


async def test_collect_parameter_scrapes_a_subset(aiohttp_client: Any) -> None:
    """node_exporter's `collect[]`/`exclude[]`: e.g. a 5 s scrape of libvirt alone beside a
    60 s scrape of everything."""
    fast, slow = CountingCollector("fast"), CountingCollector("slow")
    client = await aiohttp_client(create_app(settings(), [fast, slow]))
    only_fast = await (await client.get("/metrics?collect[]=fast")).text()
    assert "kvm_fast_runs 1" in only_fast and "kvm_slow_runs" not in only_fast
    assert 'collector="slow"' not in only_fast
    assert (fast.runs, slow.runs) == (1, 0)
    without_fast = await (await client.get("/metrics?exclude[]=fast")).text()
    assert "kvm_slow_runs 1" in without_fast and "kvm_fast_runs" not in without_fast
    both = await (await client.get("/metrics?collect[]=fast&collect[]=slow")).text()
    assert "kvm_fast_runs 2" in both and "kvm_slow_runs 2" in both
    wrong = await client.get("/metrics?collect[]=nonesuch")
    assert wrong.status == 400
    assert "not an enabled collector: nonesuch (enabled: fast, slow)" in await wrong.text()


async def test_openmetrics_and_gzip_negotiation(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(settings(), [CountingCollector("c")]))
    response = await client.get("/metrics", headers={
        "Accept": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
        "Accept-Encoding": "gzip"}, auto_decompress=False)
    assert response.headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert response.headers["Content-Encoding"] == "gzip"
    body = gzip.decompress(await response.read()).decode()
    assert body.endswith("# EOF\n")
    plain = await client.get("/metrics", headers={"Accept-Encoding": "identity"})
    assert plain.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "Content-Encoding" not in plain.headers


async def test_health_and_ready(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(settings(), []))
    assert (await client.get("/-/healthy")).status == 200
    assert (await client.get("/-/ready")).status == 200
    assert (await client.get("/nonexistent")).status == 404


def write_web_config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "web.yml"
    path.write_text(text)
    return str(path)


async def test_basic_auth(aiohttp_client: Any, tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()
    config = load_web_config(write_web_config(tmp_path, f"basic_auth_users:\n  prom: '{hashed}'\n"))
    client = await aiohttp_client(create_app(settings(web_config=config), [CountingCollector("c")]))
    assert (await client.get("/metrics")).status == 401
    assert (await client.get("/metrics", headers=basic("prom", "guess"))).status == 401
    assert (await client.get("/metrics", headers=basic("nobody", "s3cret"))).status == 401
    assert (await client.get("/metrics", headers={"Authorization": "Basic !!!"})).status == 401
    for _ in range(2):  # the second check is served from the verified-credentials cache
        assert (await client.get("/metrics", headers=basic("prom", "s3cret"))).status == 200


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_tls_with_client_certificates(tmp_path: Path) -> None:
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1")
    server_cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    config = load_web_config(write_web_config(tmp_path, (
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.pem\n"
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n")))
    assert config.tls is not None
    app = create_app(settings(web_config=config), [CountingCollector("c")])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=config.tls.ssl_context())
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        client_ctx = ssl.create_default_context()
        ca.configure_trust(client_ctx)
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ClientError):
                async with session.get(f"https://127.0.0.1:{port}/metrics", ssl=client_ctx) as r:
                    await r.read()
            ca.issue_cert("prometheus").configure_cert(client_ctx)
            async with session.get(f"https://127.0.0.1:{port}/metrics", ssl=client_ctx) as r:
                assert r.status == 200
                assert "kvm_c_runs 1" in await r.text()
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(("text", "message"), [
    ("tls_server_config:\n  cert_file: a.pem\n", "needs both cert_file and key_file"),
    ("tls_server_config:\n  cert_file: a.pem\n  key_file: b.pem\n", "does not exist"),
    ("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Maybe\n",
     "client_auth_type 'Maybe' is not one of"),
    ("basic_auth_users:\n  u: $2b$10$short\n", "malformed bcrypt hash"),
    ("basic_auth_users: [1, 2]\n", "must be a mapping"),
    ("- just\n- a list\n", "top level must be a mapping"),
    ("tls_server_config: {cert_file: [\n", "not valid YAML"),
])
def test_invalid_web_configs(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(WebConfigError, match=message.replace("$", r"\$")):
        load_web_config(write_web_config(tmp_path, text))
