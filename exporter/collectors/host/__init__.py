"""The host collector (fault overcommit): CPU time by mode, load, memory, swap, commit and PSI pressure — the
inputs for "host CPU at 100%", memory overcommit and swap-storm alerts."""

from __future__ import annotations

import os
from pathlib import Path

from exporter.collector import ThreadedCollector, register
from exporter.metrics import Family, counter, gauge, single
from exporter.procfs import HostSample, read_host
from exporter.settings import Settings
from exporter.shared import Shared

# /proc/meminfo row -> (metric suffix, help)
MEMINFO = {
    "MemTotal": ("meminfo_total_bytes", "Total usable memory of the host, in bytes."),
    "MemFree": ("meminfo_free_bytes", "Memory nobody uses, in bytes."),
    "MemAvailable": ("meminfo_available_bytes", "Memory available for new work without swapping "
                     "(MemAvailable), in bytes."),
    "Buffers": ("meminfo_buffers_bytes", "Memory in block device buffers, in bytes."),
    "Cached": ("meminfo_cached_bytes", "Memory in the page cache, in bytes."),
    "SwapTotal": ("meminfo_swap_total_bytes", "Total swap space, in bytes."),
    "SwapFree": ("meminfo_swap_free_bytes", "Unused swap space, in bytes."),
    "Committed_AS": ("meminfo_committed_bytes", "Memory promised to processes (Committed_AS), in bytes."),
    "CommitLimit": ("meminfo_commit_limit_bytes", "Memory the kernel lets be committed under strict "
                    "overcommit (CommitLimit), in bytes."),
    "HugePages_Total": ("meminfo_hugepages", "Huge pages in the pool."),
    "HugePages_Free": ("meminfo_hugepages_free", "Huge pages in the pool not yet handed out."),
    "Hugepagesize": ("meminfo_hugepage_size_bytes", "Size of a default huge page, in bytes."),
}


def host_families(sample: HostSample) -> list[Family]:
    cpu = counter("host_cpu_seconds", "Time all CPUs spent in each mode, in seconds (guest time "
                  "is part of user).", ["mode"])
    for mode, seconds in sample.cpu_seconds.items():
        cpu.add((mode,), seconds)
    families = [
        cpu,
        single(gauge("host_logical_cpus", "Logical CPUs online in the host."), sample.cpus),
        single(gauge("host_load1", "1-minute load average."), sample.load.load1),
        single(gauge("host_load5", "5-minute load average."), sample.load.load5),
        single(gauge("host_load15", "15-minute load average."), sample.load.load15),
        single(gauge("host_procs_running", "Tasks runnable right now."), sample.load.runnable),
    ]
    for key, (suffix, doc) in MEMINFO.items():
        if key in sample.memory:
            families.append(single(gauge("host_" + suffix, doc), sample.memory[key]))
    if sample.pressure:
        some = counter("host_pressure_some_seconds", "Time at least one task stalled on the "
                       "resource (PSI some), in seconds.", ["resource"])
        full = counter("host_pressure_full_seconds", "Time all non-idle tasks stalled on the "
                       "resource at once (PSI full), in seconds.", ["resource"])
        for resource, pressure in sorted(sample.pressure.items()):
            some.add((resource,), pressure.some_seconds)
            if pressure.full_seconds is not None:
                full.add((resource,), pressure.full_seconds)
        families += [some, full]
    return families


class HostCollector(ThreadedCollector[HostSample]):
    name = "host"

    def __init__(self, procfs: str) -> None:
        ticks = os.sysconf("SC_CLK_TCK")
        super().__init__(lambda: read_host(Path(procfs), ticks), host_families)


@register("host", default_enabled=True,
          description="host CPU time by mode, load, memory, swap, commit and PSI pressure")
def create(settings: Settings, _shared: Shared) -> HostCollector:
    return HostCollector(settings.path_procfs)
