"""What each libvirt call costs: wall time and QEMU monitor commands, per domain.

    python benchmarks/call_costs.py [--domains 100] [--rounds 5]

Starts that many idle KVM domains (as benchmarks/scrape_bench.py does), points libvirtd's
debug log for the QEMU monitor at a scratch file (`virt-admin daemon-log-filters`), and
for every candidate call of the datum it serves, runs it over all domains, sequentially on
one read-only connection: the median wall time of `--rounds` rounds and the monitor
commands libvirtd sent to QEMU (counted in its own log: QEMU_MONITOR_SEND_MSG lines) per domain.
The log settings are restored at the end and the domains destroyed. Numbers are printed,
never asserted.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import libvirt
from scrape_bench import BRIDGE, URI, Domains, wait_until_idle

from exporter.libvirt.cgroups import DomainCpu
from exporter.libvirt.source import NOWAIT
from exporter.libvirt.vcpus import VcpuThreads
from exporter.qemu_pids import RunningDomains

S = libvirt
LOG = Path("/var/log/libvirt/kvmx-monitor-costs.log")
TAPS: dict[str, str] = {}  # domain uuid -> its vNIC's host device
COMMAND = re.compile(r'QEMU_MONITOR_SEND_MSG: mon=\S+ msg=\{"execute":"([^"]+)"')


def bulk(flags: int) -> Callable[[Any, list[Any]], None]:
    def call(conn: Any, doms: list[Any]) -> None:
        conn.domainListGetStats(doms, flags, NOWAIT)
    return call


def each(method: Callable[[Any], Any]) -> Callable[[Any, list[Any]], None]:
    def call(_conn: Any, doms: list[Any]) -> None:
        for dom in doms:
            with contextlib.suppress(libvirt.libvirtError):
                method(dom)
    return call


def proc_vcpu_threads(_conn: Any, doms: list[Any]) -> None:
    """Per-vCPU time and run-queue delay read by the exporter from /proc (no libvirt)."""
    pids = RunningDomains(Path("/run/libvirt/qemu"), Path("/proc")).read()
    threads = VcpuThreads(Path("/proc"))
    for dom in doms:
        threads.read(pids[dom.name()])


def cgroup_cpu(_conn: Any, doms: list[Any]) -> None:
    """Domain CPU times read by the exporter from each domain's cgroup v2 cpu.stat."""
    pids = RunningDomains(Path("/run/libvirt/qemu"), Path("/proc")).read()
    cpu = DomainCpu(Path("/proc"), Path("/sys"))
    for dom in doms:
        if not cpu.read(pids[dom.name()]):
            raise RuntimeError("no cgroup v2 cpu.stat on this host")


CANDIDATES: list[tuple[str, str, Callable[[Any, list[Any]], None]]] = [
    ("state and reason", "bulk state", bulk(S.VIR_DOMAIN_STATS_STATE)),
    ("state and reason", "state()", each(lambda d: d.state())),
    ("monitor occupied?", "controlInfo()", each(lambda d: d.controlInfo())),
    ("domain CPU times", "bulk cpu-total", bulk(S.VIR_DOMAIN_STATS_CPU_TOTAL)),
    ("domain CPU times", "getCPUStats(True)", each(lambda d: d.getCPUStats(True))),
    ("domain CPU times", "the exporter's cgroup cpu.stat read (cgroups.py)", cgroup_cpu),
    ("vCPU time/wait/delay + KVM stats", "bulk vcpu", bulk(S.VIR_DOMAIN_STATS_VCPU)),
    ("vCPU state/time", "vcpus()", each(lambda d: d.vcpus())),
    ("vCPU time/delay", "the exporter's /proc read (vcpus.py)", proc_vcpu_threads),
    ("vNIC counters", "bulk interface", bulk(S.VIR_DOMAIN_STATS_INTERFACE)),
    ("vNIC counters", "interfaceStats(dev)", each(lambda d: d.interfaceStats(TAPS[d.UUIDString()]))),
    ("block I/O + capacity", "bulk block", bulk(S.VIR_DOMAIN_STATS_BLOCK)),
    ("block I/O counters", "blockStatsFlags(vda)", each(lambda d: d.blockStatsFlags("vda"))),
    ("block I/O counters", "blockStats(vda)", each(lambda d: d.blockStats("vda"))),
    ("disk capacity/allocation", "blockInfo(vda)", each(lambda d: d.blockInfo("vda"))),
    ("guest memory stats", "bulk balloon", bulk(S.VIR_DOMAIN_STATS_BALLOON)),
    ("guest memory stats", "memoryStats()", each(lambda d: d.memoryStats())),
    ("job progress", "jobStats()", each(lambda d: d.jobStats())),
    ("job progress", "jobInfo()", each(lambda d: d.jobInfo())),
    ("perf events (off by default)", "bulk perf", bulk(S.VIR_DOMAIN_STATS_PERF)),
    ("I/O threads (off by default)", "bulk iothread", bulk(S.VIR_DOMAIN_STATS_IOTHREAD)),
    ("memory bandwidth (off by default)", "bulk memory", bulk(S.VIR_DOMAIN_STATS_MEMORY)),
    ("dirty rate (off by default)", "bulk dirtyrate", bulk(S.VIR_DOMAIN_STATS_DIRTYRATE)),
    ("every scrape now", "bulk state|interface|block",
     bulk(S.VIR_DOMAIN_STATS_STATE | S.VIR_DOMAIN_STATS_INTERFACE | S.VIR_DOMAIN_STATS_BLOCK)),
    ("every scrape before",  "bulk state|balloon|vcpu|interface|block",
     bulk(S.VIR_DOMAIN_STATS_STATE | S.VIR_DOMAIN_STATS_BALLOON | S.VIR_DOMAIN_STATS_VCPU
          | S.VIR_DOMAIN_STATS_INTERFACE | S.VIR_DOMAIN_STATS_BLOCK)),
]


def admin(*args: str) -> str:
    return subprocess.run(["virt-admin", *args], check=True, capture_output=True, text=True).stdout


def current(setting: str) -> str:
    return admin(setting).split(":", 1)[1].strip()


def commands_since(offset: int) -> collections.Counter[str]:
    with LOG.open("rb") as log:
        log.seek(offset)
        text = log.read().decode(errors="replace")
    return collections.Counter(COMMAND.findall(text))


def measure(conn: Any, doms: list[Any], call: Callable[[Any, list[Any]], None],
            rounds: int) -> tuple[float, collections.Counter[str]]:
    times = []
    counted: collections.Counter[str] = collections.Counter()
    for _ in range(rounds):
        offset = LOG.stat().st_size
        start = time.perf_counter()
        call(conn, doms)
        times.append(time.perf_counter() - start)
        time.sleep(0.2)  # the log is written by libvirtd's own thread
        counted = commands_since(offset)
    return statistics.median(times), counted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    outputs, filters = current("daemon-log-outputs"), current("daemon-log-filters")
    subprocess.run(["ip", "link", "add", BRIDGE, "type", "bridge"], capture_output=True)
    subprocess.run(["ip", "link", "set", BRIDGE, "up"], check=True)
    images = Path(tempfile.mkdtemp(prefix="kvmxb-", dir="/var/lib/libvirt/images"))
    images.chmod(0o755)
    domains = Domains(images)
    try:
        domains.grow_to(args.domains)
        wait_until_idle()
        LOG.touch()
        admin("daemon-log-filters", "1:qemu.qemu_monitor 4:*")
        admin("daemon-log-outputs", f"1:file:{LOG}")
        conn = libvirt.openReadOnly(URI)
        doms = conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
        TAPS.update((dom.UUIDString(), stats["net.0.name"]) for dom, stats in
                    conn.domainListGetStats(doms, libvirt.VIR_DOMAIN_STATS_INTERFACE))
        print(f"{len(doms)} idle KVM domains, {args.rounds} rounds, sequential, one connection")
        print("| datum | call | ms for all | monitor commands per domain |")
        print("|---|---|---|---|")
        for datum, name, call in CANDIDATES:
            try:
                seconds, counted = measure(conn, doms, call, args.rounds)
            except (RuntimeError, libvirt.libvirtError) as exc:
                print(f"| {datum} | {name} | failed: {exc} | |")
                continue
            per_domain = ", ".join(f"{cmd} {n / len(doms):g}" for cmd, n in sorted(counted.items())) or "none"
            print(f"| {datum} | `{name}` | {seconds * 1000:.1f} | {per_domain} |")
        conn.close()
    finally:
        admin("daemon-log-outputs", outputs)
        admin("daemon-log-filters", filters or " ")
        LOG.unlink(missing_ok=True)
        domains.destroy()
        shutil.rmtree(images, ignore_errors=True)
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)


if __name__ == "__main__":
    main()
