"""Pure: the host, inventory, lifecycle and staleness families of a LibvirtSnapshot (faults
domain_failure, overcommit): what is about the host and the set of domains rather than one
domain's stats."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from exporter.libvirt.snapshot import DomainRecord, HostInfo, LibvirtSnapshot
from exporter.libvirt.states import ACTIVE_STATES, STATES
from exporter.metrics import Family, counter, gauge, single

D = ("domain",)
KIB = 1024


def host_families(host: HostInfo) -> Iterable[Family]:
    info = gauge("libvirt_info", "Versions of libvirt and the hypervisor, as labels.",
                 ["libvirt_version", "hypervisor", "hypervisor_version"])
    info.add((host.libvirt_version, host.hypervisor, host.hypervisor_version), 1)
    node = gauge("host_info", "Host CPU model and topology as libvirt reports them.",
                 ["model", "mhz", "numa_nodes", "sockets", "cores", "threads"])
    node.add((host.model, str(host.mhz), str(host.numa_nodes), str(host.sockets),
              str(host.cores), str(host.threads)), 1)
    cpus = gauge("host_cpus", "Logical CPUs of the host available to guests.")
    cpus.add((), host.cpus)
    memory = gauge("host_memory_bytes", "Memory of the host, in bytes.")
    memory.add((), host.memory_bytes)
    families = [info, node, cpus, memory]
    if host.kvm_usable is not None:
        usable = gauge("libvirt_kvm_usable", "Whether libvirt's capabilities offer KVM domains for "
                       "the host architecture (1) or only emulation (0).")
        families.append(single(usable, 1 if host.kvm_usable else 0))
    if host.free_memory_bytes is not None:
        free = gauge("host_memory_free_bytes", "Free memory of the host as libvirt sees it, in bytes.")
        free.add((), host.free_memory_bytes)
        families.append(free)
    return families


def inventory_families(domains: list[DomainRecord]) -> Iterable[Family]:
    by_state = Counter(int(d.stats.get("state.state", 0)) for d in domains)
    count = gauge("domains", "Domains defined or running on the host, by state.", ["state"])
    for code, name in enumerate(STATES):
        count.add((name,), by_state.get(code, 0))
    vcpus = gauge("host_allocated_vcpus", "vCPUs allocated to domains, summed; scope=active "
                  "counts running/paused domains, scope=defined counts every domain.", ["scope"])
    memory = gauge("host_allocated_memory_bytes", "Maximum memory of domains, summed, in bytes; "
                   "scope=active counts running/paused domains, scope=defined every domain.", ["scope"])
    active = [d for d in domains if int(d.stats.get("state.state", 0)) in ACTIVE_STATES]
    for scope, members in (("active", active), ("defined", domains)):
        vcpus.add((scope,), sum(int(d.stats.get("vcpu.current", 0)) for d in members))
        memory.add((scope,), sum(int(d.stats.get("balloon.maximum", 0)) for d in members) * KIB)
    return [count, vcpus, memory]


def lifecycle_family(events: dict[tuple[str, str, str], int]) -> Family:
    family = counter("domain_lifecycle_events", "libvirt lifecycle events of the domain since the "
                     "exporter started (e.g. event=stopped detail=crashed, event=suspended "
                     "detail=ioerror, event=crashed detail=panicked).", ["domain", "event", "detail"])
    for key, count in sorted(events.items()):
        family.add(key, count)
    return family


def staleness_families(snapshot: LibvirtSnapshot) -> list[Family]:
    stale = gauge("domain_stats_stale", "Whether the domain's series are its last known ones (1: its "
                  "calls hung, its monitor is busy or they failed; see the errors counter) or fresh (0).",
                  ["domain"])
    for record in snapshot.domains:
        stale.add((record.name,), 1 if record.stale else 0)
    errors = counter("domain_scrape_errors", "Scrapes in which the domain's stats were not fresh, by "
                     "reason (timeout, busy, monitor_busy, job, or a libvirt error code name).",
                     ["domain", "reason"])
    for (domain, reason), count in sorted(snapshot.domain_errors.items()):
        errors.add((domain, reason), count)
    age = gauge("domain_stats_age_seconds", "Seconds since the domain's slowly refreshed stats were read "
                "in the background: group=balloon (guest memory statistics, read after each of the "
                "guest's pushes), group=vcpu (KVM's per-vCPU counters, every --libvirt.slow-interval).",
                ["domain", "group"])
    for record in snapshot.domains:
        for group, seconds in sorted(record.ages.items()):
            age.add((record.name, group), round(seconds, 3))
    events = counter("libvirt_domain_events", "libvirt domain events received since the exporter "
                     "started, by event (lifecycle, reboot, device_added, balloon_change, ...).", ["event"])
    for event, count in sorted(snapshot.event_counts.items()):
        events.add((event,), count)
    return [stale, errors, age, events]
