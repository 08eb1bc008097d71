"""The libvirt collector against a real libvirtd with real QEMU domains.

Faults: domain_failure, overcommit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import libvirt
import psutil
import pytest
from conftest import QEMU_URI, Domains
from support.guests import DISK_IO
from support.promtool import check_metrics
from support.scrape import Samples, exporter, get, only, parse_samples, series, wait_until

from exporter.collectors.libvirt import LibvirtCollector
from exporter.http import create_app
from exporter.libvirt.shared import SharedLibvirt
from exporter.libvirt.source import LibvirtSource
from exporter.settings import Settings

pytestmark = pytest.mark.libvirtd


def app_settings(**kwargs: Any) -> Settings:
    values: dict[str, Any] = {"libvirt_uri": QEMU_URI, "collector_timeout": 10,
                              "collectors": frozenset({"libvirt", "process"})}
    return Settings(**(values | kwargs))


async def scrape(client: Any) -> tuple[str, Samples]:
    response = await client.get("/metrics")
    assert response.status == 200
    text = await response.text()
    return text, parse_samples(text)


async def test_real_domains_in_every_state(aiohttp_client: Any, domains: Domains, test_bridge: str) -> None:
    running = domains.create("run", bridge=test_bridge, tap="kvmxtap0")
    paused = domains.create("pause")
    paused.suspend()
    stopped = domains.create("off", persistent=True, start=False, autostart=True)
    client = await aiohttp_client(create_app(app_settings()))
    text, samples = await scrape(client)
    assert check_metrics(text) == ""
    assert get(samples, "kvm_scrape_collector_success", collector="libvirt") == 1
    assert get(samples, "kvm_libvirt_up") == 1
    run, pause, off = running.name(), paused.name(), stopped.name()
    assert get(samples, "kvm_domain_state_info", domain=run, state="running", reason="booted") == 1
    assert get(samples, "kvm_domain_state_info", domain=pause, state="paused", reason="user") == 1
    assert get(samples, "kvm_domain_state_info", domain=off, state="shutoff", reason="unknown") == 1
    assert get(samples, "kvm_domain_autostart", domain=off) == 1
    assert get(samples, "kvm_domain_autostart_not_running", domain=off) == 1
    assert get(samples, "kvm_domain_persistent", domain=off) == 1
    assert get(samples, "kvm_domain_persistent", domain=run) == 0
    assert get(samples, "kvm_domain_memory_maximum_bytes", domain=off) == 64 * 2**20
    assert get(samples, "kvm_domain_vcpus_current", domain=run) == 1
    assert get(samples, "kvm_domain_cpu_seconds_total", domain=run) > 0
    assert get(samples, "kvm_domain_vcpu_seconds_total", domain=run, vcpu="0") is not None
    assert get(samples, "kvm_domain_memory_rss_bytes", domain=run) > 0
    assert get(samples, "kvm_domain_block_capacity_bytes", domain=run, target="vda") == 2**20
    [info] = series(samples, "kvm_domain_info", domain=run)
    assert info["uuid"] == running.UUIDString() and info["machine"].startswith("pc-i440fx")
    [disk] = series(samples, "kvm_domain_block_info", domain=run)
    assert (disk["target"], disk["bus"], disk["driver_type"], disk["cache"]) == (
        "vda", "virtio", "raw", "none")
    [nic] = series(samples, "kvm_domain_interface_info", domain=run)
    assert (nic["target"], nic["source_bridge"], nic["model"]) == ("kvmxtap0", test_bridge, "virtio")
    assert get(samples, "kvm_domain_interface_receive_bytes_total", domain=run, target="kvmxtap0") is not None
    assert get(samples, "kvm_domains", state="paused") >= 1
    assert get(samples, "kvm_host_cpus") > 0


def broadcast_frames(interface: str, count: int) -> None:
    frame = b"\xff" * 6 + bytes.fromhex("020000c0ffee") + b"\x88\xb5" + b"kvm-exporter test".ljust(46)
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
        sock.bind((interface, 0))
        for _ in range(count):
            sock.send(frame)


async def test_counters_move_on_a_tcg_guest_doing_io(
    aiohttp_client: Any, domains: Domains, test_bridge: str
) -> None:
    dom = domains.create("io", program=DISK_IO, virt_type="qemu", bridge=test_bridge, tap="kvmxtap1")
    name, disk, nic = dom.name(), {"target": "vda"}, {"target": "kvmxtap1"}
    client = await aiohttp_client(create_app(app_settings()))
    await asyncio.sleep(2)
    _, before = await scrape(client)
    # The guest has no NIC driver, so its tap queue (txqueuelen 1000) is never drained:
    # what the bridge floods beyond that is counted as dropped on the guest's receive side.
    broadcast_frames(test_bridge, 1500)
    await asyncio.sleep(2)
    _, after = await scrape(client)

    def delta(metric: str, **labels: str) -> float:
        return get(after, metric, domain=name, **labels) - get(before, metric, domain=name, **labels)

    assert delta("kvm_domain_block_read_requests_total", **disk) > 5
    assert delta("kvm_domain_block_write_requests_total", **disk) > 5
    assert delta("kvm_domain_block_write_bytes_total", **disk) >= 512 * 5
    assert delta("kvm_domain_block_read_seconds_total", **disk) > 0
    assert delta("kvm_domain_cpu_seconds_total") > 0
    assert delta("kvm_domain_vcpu_seconds_total", vcpu="0") > 0  # its "CPU 0/TCG" thread in /proc
    # guest memory is read in the background at the stats period (2 s), and served with its age
    assert get(after, "kvm_domain_stats_age_seconds", domain=name, group="balloon") < 2
    assert get(after, "kvm_domain_memory_current_bytes", domain=name) == 64 * 2**20
    received = delta("kvm_domain_interface_receive_packets_total", **nic) + \
        delta("kvm_domain_interface_receive_drops_total", **nic)
    assert received >= 400


async def test_domain_vanishing_mid_scrape_is_skipped(domains: Domains) -> None:
    keep = domains.create("keep")
    doomed = [domains.create("doomed") for _ in range(3)]
    shared = SharedLibvirt(QEMU_URI)
    source = LibvirtSource(shared, parallel=2)
    original = source._inventory

    destroyed: list[str] = []

    def inventory_then_destroy() -> Any:
        result = original()
        if not destroyed:
            doomed[0].destroy()  # gone (transient) before the bulk stats call
            destroyed.append(doomed[0].name())
        return result

    source._inventory = inventory_then_destroy  # type: ignore[method-assign]
    original_xml = shared.domain_xml

    def destroy_before_xml(dom: Any, uuid: str, dom_id: int, stats: Any = None) -> Any:
        if dom.name() == doomed[1].name():
            doomed[1].destroy()  # gone between the bulk call and the XML read
        return original_xml(dom, uuid, dom_id, stats)

    shared.domain_xml = destroy_before_xml  # type: ignore[method-assign]
    collector = LibvirtCollector(source)
    try:
        text = "".join(f.name for f in await collector.collect())
        assert "kvm_domain_info" in text
        snapshot_names = {r.name for r in (await source.fetch()).domains}
    finally:
        await collector.close()
        await shared.close()
    assert keep.name() in snapshot_names
    assert doomed[0].name() not in snapshot_names and doomed[2].name() in snapshot_names


async def test_hot_plugged_disk_appears_without_restart(aiohttp_client: Any, domains: Domains) -> None:
    dom = domains.create("plug")
    client = await aiohttp_client(create_app(app_settings()))
    _, samples = await scrape(client)
    assert [d["target"] for d in series(samples, "kvm_domain_block_info", domain=dom.name())] == ["vda"]
    extra = domains.tmp_path / "extra.img"
    extra.write_bytes(bytes(2**20))
    dom.attachDeviceFlags(
        f"<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{extra}'/>"
        "<target dev='vdb' bus='virtio'/></disk>", libvirt.VIR_DOMAIN_AFFECT_LIVE)
    # the very next scrape: block capacity is fresh (not a background read), and the XML is
    # re-read because the stats name a disk the cached XML lacks
    _, samples = await scrape(client)
    targets = sorted(d["target"] for d in series(samples, "kvm_domain_block_info", domain=dom.name()))
    assert targets == ["vda", "vdb"]
    assert get(samples, "kvm_domain_block_capacity_bytes", domain=dom.name(), target="vdb") == 2**20


async def test_unreachable_libvirt_reports_up_zero(aiohttp_client: Any, tmp_path: Any) -> None:
    uri = f"qemu+unix:///system?socket={tmp_path}/nonexistent.sock"
    client = await aiohttp_client(create_app(app_settings(libvirt_uri=uri)))
    _, samples = await scrape(client)
    assert get(samples, "kvm_libvirt_up") == 0
    assert get(samples, "kvm_scrape_collector_success", collector="libvirt") == 0
    assert get(samples, "kvm_scrape_collector_success", collector="process") == 1


async def test_killed_qemu_is_a_crash_and_an_event(aiohttp_client: Any, domains: Domains) -> None:
    dom = domains.create("crash", persistent=True)
    name = dom.name()
    client = await aiohttp_client(create_app(app_settings()))
    _, samples = await scrape(client)
    assert get(samples, "kvm_domain_state_code", domain=name) == 1
    pid = int(Path(f"/run/libvirt/qemu/{name}.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    # The event arrives on the event thread, the state with the next bulk call: wait for both.
    deadline = time.monotonic() + 15
    states: list[dict[str, str]] = []
    while time.monotonic() < deadline:
        _, samples = await scrape(client)
        states = series(samples, "kvm_domain_state_info", domain=name)
        event = get(samples, "kvm_domain_lifecycle_events_total", domain=name, event="stopped",
                    detail="failed")
        if event and states and states[0]["state"] == "shutoff":
            break
        await asyncio.sleep(0.2)
    assert event == 1
    assert states == [{"domain": name, "state": "shutoff", "reason": "crashed"}]


def libvirtd_clients_of(pid: int) -> int:
    """How many connections libvirtd holds open for process `pid` (virt-admin)."""
    listing = subprocess.run(["virt-admin", "srv-clients-list", "libvirtd"], capture_output=True,
                             text=True, check=True).stdout
    count = 0
    for client in re.findall(r"^\s*(\d+)\s+unix", listing, re.M):
        info = subprocess.run(["virt-admin", "client-info", "libvirtd", client], capture_output=True,
                              text=True).stdout
        count += f"unix_process_id: {pid}" in info
    return count


def test_one_libvirt_connection_serves_every_collector(domains: Domains) -> None:
    """The libvirt, storage and config collectors share the app's one read-only connection
    (before, each opened its own)."""
    dom = domains.create("shared", persistent=True)
    with exporter(*only("libvirt", "storage", "config")) as running:
        for _ in range(3):
            samples = running.scrape()
        clients = libvirtd_clients_of(running.process.pid)
    for collector in ("libvirt", "storage", "config"):
        assert get(samples, "kvm_scrape_collector_success", collector=collector) == 1, collector
    assert get(samples, "kvm_domain_config_drift", domain=dom.name()) == 0
    assert series(samples, "kvm_domain_disk_image_present", domain=dom.name())
    assert clients == 1


async def test_stats_groups_and_domain_filters_bound_the_work(aiohttp_client: Any, domains: Domains) -> None:
    """Operator controls for big hosts: `--libvirt.stats-groups` reads only the groups named,
    `--libvirt.domain-include/-exclude` only the domains named."""
    keep, skip = domains.create("keep"), domains.create("skip")
    options = {"libvirt.stats-groups": ("cpu",), "libvirt.domain-exclude": "-skip-"}
    client = await aiohttp_client(create_app(app_settings(options=options)))
    _, samples = await scrape(client)
    assert get(samples, "kvm_domain_cpu_seconds_total", domain=keep.name()) > 0
    assert get(samples, "kvm_domain_state_info", domain=keep.name(), state="running", reason="booted") == 1
    assert series(samples, "kvm_domain_block_read_bytes_total", domain=keep.name()) == []
    assert series(samples, "kvm_domain_vcpu_seconds_total", domain=keep.name()) == []
    assert series(samples, "kvm_domain_memory_rss_bytes", domain=keep.name()) == []
    assert series(samples, "kvm_domain_info", domain=skip.name()) == []
    for dom in (keep, skip):  # lifecycle events of a domain left out are left out too
        dom.suspend()
        dom.resume()
    deadline = time.monotonic() + 10
    while not series(samples, "kvm_domain_lifecycle_events_total", domain=keep.name()):
        assert time.monotonic() < deadline, "no lifecycle event counted"
        await asyncio.sleep(0.2)
        _, samples = await scrape(client)
    assert series(samples, "kvm_domain_lifecycle_events_total", domain=skip.name()) == []
    everything = await aiohttp_client(create_app(app_settings()))
    _, full = await scrape(everything)
    assert series(full, "kvm_domain_block_read_bytes_total", domain=keep.name())
    assert series(full, "kvm_domain_info", domain=skip.name())


def busy_libvirtd_workers() -> int:
    info = subprocess.run(["virt-admin", "srv-threadpool-info", "libvirtd"], capture_output=True,
                          text=True, check=True).stdout
    values = dict(re.findall(r"^\s*(\w+)\s*:\s*(\d+)", info, re.M))
    return int(values["nWorkers"]) - int(values["freeWorkers"])


def domain_series(samples: Samples, domain: str) -> set[str]:
    """The domain's stats families (its error counter appears with its first error)."""
    return {name for name, labels in samples
            if ("domain", domain) in labels and name != "kvm_domain_scrape_errors_total"}


def test_a_hung_domain_costs_only_itself(domains: Domains) -> None:
    """A domain whose QEMU is stopped (SIGSTOP: its monitor never answers, as in D-state I/O on
    dead storage) while another shares its bulk call, for 50 scrapes: every scrape answers
    in time, the healthy domain stays complete and fresh, the hung one is served from its last
    known stats and marked stale; the exporter's threads and libvirtd's busy workers stay
    bounded; after SIGCONT the domain is fresh again."""
    sick, well = domains.create("sick"), domains.create("well")
    timeout = 3.0
    flags = (*only("libvirt"), f"--collector.timeout={timeout:g}s", "--libvirt.parallel-calls=1")
    with exporter(*flags) as running:
        before = running.scrape()
        expected = domain_series(before, well.name())
        pid = int(Path(f"/run/libvirt/qemu/{sick.name()}.pid").read_text())
        exporter_process = psutil.Process(running.process.pid)
        took, threads, workers = [], [], []
        os.kill(pid, signal.SIGSTOP)
        try:
            for scrape_number in range(50):
                start = time.monotonic()
                samples = running.scrape()
                took.append(time.monotonic() - start)
                threads.append(exporter_process.num_threads())
                workers.append(busy_libvirtd_workers())
                assert get(samples, "kvm_scrape_collector_success", collector="libvirt") == 1
                assert domain_series(samples, well.name()) == expected  # complete, every scrape
                if scrape_number >= 1:  # the first may wait on the call that found the hang
                    assert get(samples, "kvm_domain_stats_stale", domain=well.name()) == 0
                    assert get(samples, "kvm_domain_stats_stale", domain=sick.name()) == 1
            reasons = {labels["reason"] for labels in series(samples, "kvm_domain_scrape_errors_total",
                                                             domain=sick.name())}
            ages = {dom.name(): get(samples, "kvm_domain_stats_age_seconds", domain=dom.name(),
                                    group="balloon") for dom in (sick, well)}
        finally:
            os.kill(pid, signal.SIGCONT)
        recovered = wait_until(running.scrape,
                               lambda s: get(s, "kvm_domain_stats_stale", domain=sick.name()) == 0)
    assert get(recovered, "kvm_domain_stats_stale", domain=sick.name()) == 0
    assert "monitor_busy" in reasons, reasons
    # the background goes on reading the healthy domain's guest memory (period 2 s); the hung
    # one's copy only ages
    assert ages[well.name()] < 3 < ages[sick.name()], ages
    assert max(took) < timeout + 1, took
    # the stuck call's thread, the retired connection's, pool workers started lazily: a few once,
    # never one per scrape (50 scrapes would leave 50)
    assert max(threads) <= threads[0] + 5, threads
    assert max(workers) <= 2, workers  # libvirtd: the one call stuck in the hung QEMU


class SlowReader:
    """Reads a FIFO slowly in a thread (as a dump to slow storage drains), until released."""

    def __init__(self, fifo: Path, chunk: int = 16384, pause: float = 0.05) -> None:
        self.release = threading.Event()
        self.read = 0
        self._thread = threading.Thread(target=self._run, args=(fifo, chunk, pause), daemon=True)
        self._thread.start()

    def _run(self, fifo: Path, chunk: int, pause: float) -> None:
        with fifo.open("rb") as pipe:  # opened before libvirtd opens it: never a wedged open()
            while data := pipe.read(chunk if not self.release.is_set() else 1 << 20):
                self.read += len(data)
                if not self.release.is_set():
                    time.sleep(pause)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


def test_a_long_job_costs_only_its_domain(domains: Domains, tmp_path: Path) -> None:
    """A memory-only core dump of one domain into a pipe read at ~300 KiB/s: a DUMP job holds
    the domain for minutes, as a dump or save to slow storage does. Every scrape answers in
    time; the other domain stays complete and fresh; the dumping domain keeps its series and
    shows its job (kvm_domain_job_info operation=dump) while it runs, and not after it."""
    dumping, calm = domains.create("dump"), domains.create("calm")
    fifo = tmp_path / "dump.fifo"
    os.mkfifo(fifo)
    fifo.chmod(0o666)
    reader = SlowReader(fifo)

    def dump_memory() -> None:
        with contextlib.suppress(libvirt.libvirtError):
            dumping.coreDumpWithFormat(str(fifo), libvirt.VIR_DOMAIN_CORE_DUMP_FORMAT_RAW,
                                       libvirt.VIR_DUMP_MEMORY_ONLY)

    dump = threading.Thread(target=dump_memory, daemon=True)
    timeout = 3.0
    with exporter(*only("libvirt"), f"--collector.timeout={timeout:g}s") as running:
        expected = domain_series(running.scrape(), calm.name())
        dump.start()
        took, jobs = [], []
        try:
            for _ in range(15):
                start = time.monotonic()
                samples = running.scrape()
                took.append(time.monotonic() - start)
                assert get(samples, "kvm_scrape_collector_success", collector="libvirt") == 1
                assert domain_series(samples, calm.name()) == expected
                assert get(samples, "kvm_domain_stats_stale", domain=calm.name()) == 0
                assert get(samples, "kvm_domain_state_code", domain=dumping.name()) in (1, 3)
                jobs += [labels["operation"] for labels in series(samples, "kvm_domain_job_info",
                                                                 domain=dumping.name())]
                time.sleep(0.2)
        finally:
            reader.release.set()
        dump.join(60)
        reader.join(10)
        after = wait_until(running.scrape,
                           lambda s: not series(s, "kvm_domain_job_info", domain=dumping.name()))
    assert not dump.is_alive() and reader.read >= 64 * 2**20
    assert "dump" in jobs, jobs
    assert not series(after, "kvm_domain_job_info", domain=dumping.name())
    assert max(took) < timeout + 1, took


def test_suspend_during_io_freezes_the_counters_not_the_scrape(domains: Domains) -> None:
    """`virsh suspend` of a TCG guest in the middle of its disk I/O: the next scrapes say
    paused (reason user), fresh, with block counters that no longer move."""
    dom = domains.create("susp", program=DISK_IO, virt_type="qemu")
    with exporter(*only("libvirt")) as running:
        wait_until(running.scrape, lambda s: get(s, "kvm_domain_block_read_requests_total",
                                                 domain=dom.name(), target="vda") > 10)
        dom.suspend()
        first = running.scrape()
        time.sleep(1)
        second = running.scrape()
    for samples in (first, second):
        assert get(samples, "kvm_domain_state_code", domain=dom.name()) == 3
        assert get(samples, "kvm_domain_state_info", domain=dom.name(), state="paused", reason="user") == 1
        assert get(samples, "kvm_domain_stats_stale", domain=dom.name()) == 0
    reads = [get(s, "kvm_domain_block_read_requests_total", domain=dom.name(), target="vda")
             for s in (first, second)]
    assert reads[0] == reads[1] > 10
