"""Pure: the keyed parts of the optional stats groups (fault vm_health, noisy neighbours):
perf events (`perf.<event>`, for events enabled with `virsh perf --enable`) and resctrl
memory-bandwidth monitors (`memory.bandwidth.monitor.<m>.node.<n>.bytes.{local,total}`).
Their scalar keys (iothread.count, dirtyrate.*) are plain fields (`fields.py`)."""

from __future__ import annotations

from typing import Any

from exporter.libvirt.snapshot import DomainRecord
from exporter.metrics import Family, counter, gauge

KEYED_GROUPS = frozenset({"perf", "memory"})  # the groups whose keys this module reads

# libvirt's perf event names (virPerfEventType), the counting ones
PERF_EVENTS = (
    "cpu_cycles", "instructions", "cache_references", "cache_misses", "branch_instructions",
    "branch_misses", "bus_cycles", "stalled_cycles_frontend", "stalled_cycles_backend",
    "ref_cpu_cycles", "cpu_clock", "task_clock", "page_faults", "context_switches",
    "cpu_migrations", "page_faults_min", "page_faults_maj", "alignment_faults", "emulation_faults",
)
# Intel RDT figures libvirt reads through perf: cache occupancy, memory bandwidth total/local
RDT_EVENTS = {"cmt": "cache_occupancy_bytes", "mbmt": "memory_bandwidth_total_bytes_per_second",
              "mbml": "memory_bandwidth_local_bytes_per_second"}


def optional_group_families(domains: list[DomainRecord]) -> list[Family]:
    events = counter("domain_perf_events", "Perf events counted for the domain's QEMU process "
                     "(perf group, events enabled with `virsh perf DOMAIN --enable EVENT`).",
                     ["domain", "event"])
    rdt = {key: gauge(f"domain_perf_{name}", f"Intel RDT {key} of the domain (perf group).", ["domain"])
           for key, name in RDT_EVENTS.items()}
    bandwidth = counter("domain_memory_bandwidth_bytes", "Memory traffic a resctrl monitor of the "
                        "domain counted on a NUMA node, local to the node or in total (memory group).",
                        ["domain", "monitor", "node", "scope"])
    for record in domains:
        stats, name = record.stats, record.name
        for event in PERF_EVENTS:
            value = stats.get(f"perf.{event}")
            if value is not None:
                events.add((name, event), value)
        for key, family in rdt.items():
            value = stats.get(f"perf.{key}")
            if value is not None:
                family.add((name,), value)
        _add_bandwidth(bandwidth, name, stats)
    return [events, *rdt.values(), bandwidth]


def _add_bandwidth(family: Family, domain: str, stats: dict[str, Any]) -> None:
    for m in range(int(stats.get("memory.bandwidth.monitor.count", 0))):
        prefix = f"memory.bandwidth.monitor.{m}"
        monitor = str(stats.get(f"{prefix}.name", m))
        for n in range(int(stats.get(f"{prefix}.node.count", 0))):
            node = str(stats.get(f"{prefix}.node.{n}.id", n))
            for scope in ("local", "total"):
                value = stats.get(f"{prefix}.node.{n}.bytes.{scope}")
                if value is not None:
                    family.add((domain, monitor, node, scope), value)
