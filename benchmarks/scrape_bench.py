"""Scrape benchmark: kvm-exporter beside Debian's prometheus-libvirt-exporter on one libvirtd.

    python benchmarks/scrape_bench.py [--counts 20,50,100,200] [--scrapes 30] [--replay 1000,5000]

For each domain count it starts that many idle KVM domains (transient, 64 MiB, a 1 MiB boot
disk whose program halts the vCPU, a vNIC on an isolated bridge), then scrapes both exporters
in turn and prints scrape latency p50/p95, exporter CPU per scrape, RSS and series counts,
plus the floor: the same libvirt calls our exporter makes, timed bare in this process.
`--replay N,M` serves N (then M) domains replayed from recorded real stats (benchmarks/replay_server.py)
to measure our own CPU per scrape without libvirt. Domains are destroyed at the end.
Numbers are printed, never asserted: timings belong here, not in tests.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import libvirt
import psutil

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
import contextlib

from support.guests import HALT, boot_image, domain_xml
from support.scrape import free_port, serving

from exporter.libvirt.source import NOWAIT, fresh_flags

URI = "qemu:///system"
ONLY_LIBVIRT = ["--no-collector." + name for name in (
    "process", "thermal", "edac", "smart", "kvm", "kernel", "qemu", "host", "config", "network", "storage",
    "iscsi", "zfs", "mdraid")]
BRIDGE = "kvmxbbr0"
PREFIX = "kvmxb-"


def scrape(url: str) -> tuple[float, int]:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:
        body = response.read().decode()
    elapsed = time.perf_counter() - start
    return elapsed, sum(1 for line in body.splitlines() if line and not line.startswith("#"))


def wait_until_idle(limit: float = 120) -> None:
    """New domains spend ~20 s in SeaBIOS and the NIC's option ROM before they halt."""
    deadline = time.monotonic() + limit
    while psutil.cpu_percent(interval=2) > 20 and time.monotonic() < deadline:
        pass


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Domains:
    def __init__(self, images: Path) -> None:
        self.conn = libvirt.open(URI)
        self.images = images
        self.doms: list[libvirt.virDomain] = []

    def grow_to(self, count: int) -> None:
        def create(index: int) -> libvirt.virDomain:
            disk = boot_image(self.images / f"{index}.img", HALT)
            xml = domain_xml(f"{PREFIX}{index:04d}", disk, bridge=BRIDGE, tap=f"kvmxbt{index}")
            return self.conn.createXML(xml, 0)

        with ThreadPoolExecutor(4) as pool:
            self.doms += pool.map(create, range(len(self.doms), count))

    def destroy(self) -> None:
        for dom in self.doms:
            with contextlib.suppress(libvirt.libvirtError):
                dom.destroy()


def floor_calls(conn: libvirt.virConnect, parallel: int, pool: ThreadPoolExecutor) -> float:
    """The libvirt calls one scrape waits on (the fresh groups and the job stats), without
    any of our processing; the background reads of the slow groups are not part of it, nor
    are the domain CPU times, read from the domain cgroups where cgroup v2 is seen."""
    start = time.perf_counter()
    domains = conn.listAllDomains(0)
    conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_AUTOSTART)
    conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_PERSISTENT)
    conn.getInfo()
    conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS)

    flags = fresh_flags(frozenset({"interface", "block"}))

    def share(doms: list[libvirt.virDomain]) -> None:
        for dom, _ in conn.domainListGetStats(doms, flags, NOWAIT):
            with contextlib.suppress(libvirt.libvirtError):  # stopped since the bulk call
                dom.jobStats()

    shares = [domains[i::parallel] for i in range(parallel) if domains[i::parallel]]
    list(pool.map(share, shares))
    return time.perf_counter() - start


def measure(url: str, process: psutil.Process | None, scrapes: int) -> dict[str, float]:
    for _ in range(3):
        scrape(url)
    cpu_before = sum(process.cpu_times()[:2]) if process else 0.0
    latencies, series = [], 0
    for _ in range(scrapes):
        elapsed, series = scrape(url)
        latencies.append(elapsed)
    cpu = (sum(process.cpu_times()[:2]) - cpu_before) / scrapes if process else float("nan")
    rss = process.memory_info().rss / 2**20 if process else float("nan")
    return {"p50": percentile(latencies, 0.5) * 1000, "p95": percentile(latencies, 0.95) * 1000,
            "cpu": cpu * 1000, "rss": rss, "series": series}


def measure_server(label: str, command: list[str], port: int, ready_path: str,
                   scrapes: int, per_collector: bool = False) -> dict[str, float]:
    url = f"http://127.0.0.1:{port}/metrics"
    with serving(command, f"http://127.0.0.1:{port}{ready_path}") as process:
        result = measure(url, psutil.Process(process.pid), scrapes)
        if per_collector:
            with urllib.request.urlopen(url, timeout=60) as response:
                durations = [(float(v), c) for c, v in re.findall(
                    r'^kvm_scrape_collector_duration_seconds\{collector="([^"]+)"\} (\S+)$',
                    response.read().decode(), re.M)]
    print(row(label, result))
    if per_collector:
        print("|   per collector (ms, one scrape) | " + ", ".join(
            f"{c} {d * 1000:.0f}" for d, c in sorted(durations, reverse=True)) + " | | | | |")
    return result


def row(label: str, m: dict[str, float]) -> str:
    return (f"| {label} | {m['p50']:.0f} | {m['p95']:.0f} | {m['cpu']:.0f} | {m['rss']:.0f} | "
            f"{m['series']:.0f} |")


def bench_real(counts: list[int], scrapes: int, parallel: int) -> None:
    subprocess.run(["ip", "link", "add", BRIDGE, "type", "bridge"], capture_output=True)
    subprocess.run(["ip", "link", "set", BRIDGE, "up"], check=True)
    images = Path(tempfile.mkdtemp(prefix="kvmxb-", dir="/var/lib/libvirt/images"))
    images.chmod(0o755)
    domains = Domains(images)
    debian = shutil.which("prometheus-libvirt-exporter")
    print("| domains / exporter | p50 ms | p95 ms | CPU ms/scrape | RSS MiB | series |")
    print("|---|---|---|---|---|---|")
    try:
        for count in counts:
            domains.grow_to(count)
            wait_until_idle()
            port = free_port()
            m = measure_server(f"{count} kvm-exporter, libvirt collector only",
                               [sys.executable, "-m", "exporter", f"--web.listen-address=127.0.0.1:{port}",
                                f"--libvirt.parallel-calls={parallel}", *ONLY_LIBVIRT],
                               port, "/-/ready", scrapes)
            port = free_port()
            measure_server(f"{count} kvm-exporter, all default collectors",
                           [sys.executable, "-m", "exporter", f"--web.listen-address=127.0.0.1:{port}",
                            f"--libvirt.parallel-calls={parallel}"], port, "/-/ready", scrapes,
                           per_collector=True)
            if debian:
                port = free_port()
                measure_server(f"{count} prometheus-libvirt-exporter 0.2.0",
                               [debian, f"--web.listen-address=127.0.0.1:{port}"], port, "/metrics",
                               scrapes)
            conn = libvirt.openReadOnly(URI)
            with ThreadPoolExecutor(parallel) as pool:
                floor = [floor_calls(conn, parallel, pool) for _ in range(scrapes)]
            conn.close()
            f50 = percentile(floor, 0.5) * 1000
            print(f"| {count} bare libvirt calls (floor) | {f50:.0f} | "
                  f"{percentile(floor, 0.95) * 1000:.0f} | | | |")
            print(f"| {count} our overhead (p50 - floor p50) | {m['p50'] - f50:.0f} "
                  f"({(m['p50'] - f50) / m['p50'] * 100:.0f}%) | | | | |")
    finally:
        domains.destroy()
        shutil.rmtree(images, ignore_errors=True)
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)


def bench_replay(count: int, scrapes: int) -> None:
    port = free_port()
    server = Path(__file__).parent / "replay_server.py"
    measure_server(f"{count} replayed (no libvirt)", [sys.executable, str(server), str(port), str(count)],
                   port, "/-/ready", scrapes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="20,50,100,200")
    parser.add_argument("--scrapes", type=int, default=30)
    parser.add_argument("--replay", default="1000,5000")
    parser.add_argument("--parallel", type=int, default=4)
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",") if c]
    if counts:
        bench_real(counts, args.scrapes, args.parallel)
    for count in (int(c) for c in args.replay.split(",") if c):
        bench_replay(count, args.scrapes)


if __name__ == "__main__":
    main()
