"""libvirtd frozen and restarted under a running exporter (the shared daemon: run serially).

Faults: exporter_health, kmod_failure.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import libvirt
import psutil
import pytest
from conftest import QEMU_URI, Domains
from support.scrape import get, parse_samples, series

import exporter.collectors  # noqa: F401 - registers the collectors
from exporter.http import create_app
from exporter.settings import Settings

pytestmark = [pytest.mark.libvirtd, pytest.mark.disruptive]

TIMEOUT = 0.5


def libvirtd_process() -> psutil.Process:
    """The daemon itself, not a child it forked to run a command or start a QEMU (which is
    named libvirtd until it execs)."""
    found = [p for p in psutil.process_iter(["name", "ppid"]) if p.info["name"] == "libvirtd"]
    pids = {p.pid for p in found}
    daemons = [p for p in found if p.info["ppid"] not in pids]
    assert len(daemons) == 1, f"expected one libvirtd, found {found}"
    return daemons[0]


def wait_for_libvirtd(seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            libvirt.open(QEMU_URI).close()
            return
        except libvirt.libvirtError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def libvirtd(libvirtd_available: None) -> Iterator[psutil.Process]:
    process = libvirtd_process()
    yield process
    if process.is_running() and process.status() == psutil.STATUS_STOPPED:
        process.resume()


def threads_inside_libvirt_calls() -> int:
    """Worker threads whose stack is inside a libvirt-python call (the event loop excluded)."""
    names = {t.ident: t.name for t in __import__("threading").enumerate()}
    stuck = 0
    for ident, frame in sys._current_frames().items():
        if names.get(ident) == "libvirt-events":
            continue
        stack = frame
        while stack is not None:
            if stack.f_code.co_filename.endswith(os.sep + "libvirt.py"):
                stuck += 1
                break
            stack = stack.f_back
    return stuck


async def test_frozen_libvirtd_costs_only_the_libvirt_collector(
    aiohttp_client: Any, domains: Domains, libvirtd: psutil.Process
) -> None:
    dom = domains.create("frozen")
    settings = Settings(libvirt_uri=QEMU_URI, collector_timeout=TIMEOUT,
                        collectors=frozenset({"libvirt", "process"}))
    client = await aiohttp_client(create_app(settings))
    samples = parse_samples(await (await client.get("/metrics")).text())
    assert get(samples, "kvm_scrape_collector_success", collector="libvirt") == 1
    libvirtd.suspend()
    try:
        for _ in range(50):
            started = time.monotonic()
            samples = parse_samples(await (await client.get("/metrics")).text())
            assert time.monotonic() - started <= TIMEOUT + 1
            assert get(samples, "kvm_scrape_collector_success", collector="libvirt") == 0
            assert get(samples, "kvm_scrape_collector_success", collector="process") == 1
            assert not series(samples, "kvm_domain_info")
        assert threads_inside_libvirt_calls() <= 1
    finally:
        libvirtd.resume()
    await asyncio.sleep(0.2)
    samples = parse_samples(await (await client.get("/metrics")).text())
    assert get(samples, "kvm_scrape_collector_success", collector="libvirt") == 1
    assert get(samples, "kvm_libvirt_up") == 1
    assert get(samples, "kvm_domain_state_code", domain=dom.name()) == 1


async def test_exporter_reconnects_after_libvirtd_restart(
    aiohttp_client: Any, domains: Domains, libvirtd: psutil.Process
) -> None:
    """The one shared libvirt source follows a restarted libvirtd for every collector that
    reads it: libvirt, storage (disk images) and config (definition drift), including a
    domain defined only after the restart."""
    dom = domains.create("restart", persistent=True)
    settings = Settings(libvirt_uri=QEMU_URI, collector_timeout=5,
                        collectors=frozenset({"libvirt", "process", "storage", "config"}))
    client = await aiohttp_client(create_app(settings))
    samples = parse_samples(await (await client.get("/metrics")).text())
    assert get(samples, "kvm_domain_state_code", domain=dom.name()) == 1
    assert get(samples, "kvm_domain_disk_image_present", domain=dom.name(), target="vda") == 1
    assert get(samples, "kvm_domain_config_drift", domain=dom.name()) == 0
    command = libvirtd.cmdline()
    libvirtd.send_signal(signal.SIGTERM)
    libvirtd.wait(30)
    try:
        samples = parse_samples(await (await client.get("/metrics")).text())
        assert get(samples, "kvm_libvirt_up") == 0
        assert get(samples, "kvm_scrape_collector_success", collector="libvirt") == 0
    finally:
        subprocess.run(command, check=True)
        await asyncio.to_thread(wait_for_libvirtd)
    domains.conn = libvirt.open(QEMU_URI)  # the test's own connection died with the daemon
    later = domains.create("defined-after", persistent=True)
    samples = parse_samples(await (await client.get("/metrics")).text())
    assert get(samples, "kvm_libvirt_up") == 1
    for collector in ("libvirt", "storage", "config"):
        assert get(samples, "kvm_scrape_collector_success", collector=collector) == 1
    for each in (dom, later):
        assert get(samples, "kvm_domain_state_code", domain=each.name()) == 1
        assert get(samples, "kvm_domain_disk_image_present", domain=each.name(), target="vda") == 1
        assert get(samples, "kvm_domain_config_drift", domain=each.name()) == 0
