"""Lifecycle paths on libvirt's in-process test:///default driver, shared by the exporter's
read-only connection and the test's read-write one.

Faults: domain_failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import libvirt
import pytest
from support.scrape import Samples, get, parse_samples, series

from exporter.http import create_app
from exporter.settings import Settings

URI = "test:///default"


def domain_xml(name: str, disk: str, uuid: str = "") -> str:
    uuid_element = f"<uuid>{uuid}</uuid>" if uuid else ""
    return (f"<domain type='test'><name>{name}</name>{uuid_element}"
            "<memory unit='MiB'>128</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os>"
            "<devices><disk type='file' device='disk'>"
            f"<source file='/images/{disk}.img'/><target dev='{disk}' bus='virtio'/></disk>"
            "</devices></domain>")


@pytest.fixture
def rw_conn() -> Iterator[Any]:
    conn = libvirt.open(URI)
    yield conn
    for dom in conn.listAllDomains(0):
        if dom.name().startswith("life-"):
            if dom.isActive():
                dom.destroy()
            if dom.isPersistent():
                dom.undefine()
    conn.close()


async def scrape(client: Any) -> Samples:
    return parse_samples(await (await client.get("/metrics")).text())


async def until(client: Any, check: Any, seconds: float = 5) -> Samples:
    """Scrape until `check(samples)` holds: libvirt events arrive asynchronously."""
    samples = await scrape(client)
    for _ in range(int(seconds / 0.1)):
        if check(samples):
            break
        await asyncio.sleep(0.1)
        samples = await scrape(client)
    return samples


async def test_lifecycle_is_followed(aiohttp_client: Any, rw_conn: Any) -> None:
    settings = Settings(libvirt_uri=URI, collectors=frozenset({"libvirt"}))
    client = await aiohttp_client(create_app(settings))
    dom = rw_conn.defineXML(domain_xml("life-1", "vda"))
    samples = await scrape(client)
    assert get(samples, "kvm_domain_state_info", domain="life-1", state="shutoff", reason="unknown") == 1
    dom.create()
    dom.suspend()
    samples = await scrape(client)
    assert get(samples, "kvm_domain_state_info", domain="life-1", state="paused", reason="user") == 1
    dom.destroy()
    samples = await scrape(client)
    assert get(samples, "kvm_domain_state_info", domain="life-1", state="shutoff", reason="destroyed") == 1
    # Redefining a stopped domain changes no id: only the libvirt event refreshes its XML.
    rw_conn.defineXML(domain_xml("life-1", "vdc", dom.UUIDString()))
    samples = await until(client, lambda s: series(s, "kvm_domain_block_info", domain="life-1",
                                                   target="vdc"))
    assert [d["target"] for d in series(samples, "kvm_domain_block_info", domain="life-1")] == ["vdc"]
    events = {(s["event"], s["detail"]) for s in series(samples, "kvm_domain_lifecycle_events_total",
                                                         domain="life-1")}
    # Counted from the first scrape on (it opens the connection): the first define is before.
    assert events == {("started", "booted"), ("suspended", "paused"), ("stopped", "destroyed"),
                      ("defined", "updated")}
    dom.undefine()
    samples = await scrape(client)
    assert not series(samples, "kvm_domain_info", domain="life-1")
    assert get(samples, "kvm_scrape_collector_success", collector="libvirt") == 1
