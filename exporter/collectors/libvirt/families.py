"""Pure: a LibvirtSnapshot becomes metric families (faults domain_failure, overcommit).

Bulk stats records are flat dicts (`cpu.time`, `vcpu.0.wait`, `block.1.rd.bytes`, ...).
Tables below map each libvirt field to a metric, its type and its scale to base units,
so that adding a field is one line and every metric's help text sits in one place.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from exporter.collectors.libvirt.inventory import (
    host_families,
    inventory_families,
    lifecycle_family,
    staleness_families,
)
from exporter.libvirt.snapshot import DomainRecord, LibvirtSnapshot
from exporter.libvirt.states import (
    ACTIVE_STATES,
    disk_error_name,
    job_operation_name,
    job_type_name,
    reason_name,
    state_name,
)
from exporter.metrics import Family, counter, gauge

# A field's scale to base units: multiply by `scale` when >= 1, else divide by its inverse
# (dividing 2348200000 by 1e9 gives 2.3482; multiplying by 1e-9 gives 2.3482000000000003).
NS = 1e-9
KIB = 1024
MS = 1e-3


def to_base(value: float, scale: float) -> float:
    if scale >= 1:
        return value * scale
    return value / round(1 / scale)


@dataclass(frozen=True)
class Field:
    metric: str
    kind: str
    scale: float
    doc: str

    def family(self, labelnames: tuple[str, ...]) -> Family:
        make = counter if self.kind == "counter" else gauge
        return make(self.metric, self.doc, labelnames)


def _c(metric: str, doc: str, scale: float = 1) -> Field:
    return Field(metric, "counter", scale, doc)


def _g(metric: str, doc: str, scale: float = 1) -> Field:
    return Field(metric, "gauge", scale, doc)


DOMAIN_FIELDS = {
    "cpu.time": _c("domain_cpu_seconds", "CPU time used by the domain, in seconds.", NS),
    "cpu.user": _c("domain_cpu_user_seconds", "User-mode CPU time used by the domain, in seconds.", NS),
    "cpu.system": _c("domain_cpu_system_seconds", "Kernel-mode CPU time used by the domain, in seconds.", NS),
    "vcpu.current": _g("domain_vcpus_current", "Number of vCPUs currently online in the domain."),
    "vcpu.maximum": _g("domain_vcpus_maximum", "Maximum number of vCPUs the domain can have."),
    "balloon.current": _g("domain_memory_current_bytes", "Memory currently assigned to the domain (balloon size), in bytes.", KIB),
    "balloon.maximum": _g("domain_memory_maximum_bytes", "Maximum memory the domain may be given, in bytes.", KIB),
    "balloon.swap_in": _c("domain_memory_swap_in_bytes", "Memory the guest swapped in, in bytes.", KIB),
    "balloon.swap_out": _c("domain_memory_swap_out_bytes", "Memory the guest swapped out, in bytes.", KIB),
    "balloon.major_fault": _c("domain_memory_major_faults", "Major page faults in the guest."),
    "balloon.minor_fault": _c("domain_memory_minor_faults", "Minor page faults in the guest."),
    "balloon.unused": _g("domain_memory_unused_bytes", "Memory the guest leaves unused, in bytes.", KIB),
    "balloon.available": _g("domain_memory_available_bytes", "Memory usable by the guest as the guest sees it, in bytes.", KIB),
    "balloon.usable": _g("domain_memory_usable_bytes", "Memory the guest can use without swapping, in bytes.", KIB),
    "balloon.rss": _g("domain_memory_rss_bytes", "Resident set size of the domain's QEMU process, in bytes.", KIB),
    "balloon.disk_caches": _g("domain_memory_disk_caches_bytes", "Guest memory that can be reclaimed from disk caches, in bytes.", KIB),
    "balloon.last-update": _g("domain_memory_stats_last_update_timestamp_seconds", "When the guest last reported its memory statistics, as a Unix timestamp."),
    "balloon.hugetlb_pgalloc": _c("domain_memory_hugetlb_allocations", "Successful huge page allocations in the guest."),
    "balloon.hugetlb_pgfail": _c("domain_memory_hugetlb_allocation_failures", "Failed huge page allocations in the guest."),
}

VCPU_FIELDS = {
    "state": _g("domain_vcpu_state", "State of the vCPU (0 offline, 1 running, 2 blocked)."),
    "time": _c("domain_vcpu_seconds", "CPU time used by the vCPU, in seconds.", NS),
    "wait": _c("domain_vcpu_wait_seconds", "Time the vCPU wanted to run but was not scheduled (other than for I/O), in seconds.", NS),
    "delay": _c("domain_vcpu_delay_seconds", "Time the vCPU spent runnable waiting in the host run queue (steal as the guest sees it), in seconds.", NS),
}

# KVM's own per-vCPU statistics (QEMU query-stats, in the vcpu group since libvirt 8.x):
# the classic kvm_stat signals of a VM that exits, halts or emulates too much.
# Field -> (metric, label value of the family's extra label, or "" for none).
KVM_VCPU_FAMILIES = {
    "exits": (_c("domain_vcpu_exits", "VM exits of the vCPU, all reasons."), ""),
    "exits_by_reason": (_c("domain_vcpu_exits_by_reason", "VM exits of the vCPU by reason (a subset of all exits)."), "reason"),
    "halt_wait": (_c("domain_vcpu_halt_wait_seconds", "Time the vCPU spent halted waiting for an interrupt, in seconds.", NS), ""),
    "halt_poll": (_c("domain_vcpu_halt_poll_seconds", "Time KVM spent polling a halted vCPU, by whether the poll found work, in seconds.", NS), "result"),
    "halt_wakeups": (_c("domain_vcpu_halt_wakeups", "Wake-ups of the halted vCPU."), ""),
    "page_faults": (_c("domain_vcpu_page_faults", "Page faults KVM handled for the vCPU."), ""),
    "emulated": (_c("domain_vcpu_emulated_instructions", "Instructions KVM emulated for the vCPU."), ""),
    "emulation_failures": (_c("domain_vcpu_emulation_failures", "Instructions KVM failed to emulate for the vCPU."), ""),
    "hypercalls": (_c("domain_vcpu_hypercalls", "Hypercalls made by the vCPU."), ""),
    "injections": (_c("domain_vcpu_interrupt_injections", "Interrupts injected into the vCPU, by kind."), "kind"),
    "preemptions": (_c("domain_vcpu_preemptions", "Times the vCPU was preempted on the host, by whether the guest was told."), "kind"),
}
KVM_VCPU_FIELDS = {
    "exits.sum": ("exits", ""),
    "halt_exits.sum": ("exits_by_reason", "halt"),
    "io_exits.sum": ("exits_by_reason", "io"),
    "mmio_exits.sum": ("exits_by_reason", "mmio"),
    "irq_exits.sum": ("exits_by_reason", "irq"),
    "irq_window_exits.sum": ("exits_by_reason", "irq_window"),
    "nmi_window_exits.sum": ("exits_by_reason", "nmi_window"),
    "signal_exits.sum": ("exits_by_reason", "signal"),
    "request_irq_exits.sum": ("exits_by_reason", "request_irq"),
    "halt_wait_ns.sum": ("halt_wait", ""),
    "halt_poll_success_ns.sum": ("halt_poll", "success"),
    "halt_poll_fail_ns.sum": ("halt_poll", "fail"),
    "halt_wakeup.sum": ("halt_wakeups", ""),
    "pf_taken.sum": ("page_faults", ""),
    "insn_emulation.sum": ("emulated", ""),
    "insn_emulation_fail.sum": ("emulation_failures", ""),
    "hypercalls.sum": ("hypercalls", ""),
    "irq_injections.sum": ("injections", "irq"),
    "nmi_injections.sum": ("injections", "nmi"),
    "preemption_reported.sum": ("preemptions", "reported"),
    "preemption_other.sum": ("preemptions", "other"),
}

BLOCK_FIELDS = {
    "rd.reqs": _c("domain_block_read_requests", "Read requests completed on the disk."),
    "rd.bytes": _c("domain_block_read_bytes", "Bytes read from the disk."),
    "rd.times": _c("domain_block_read_seconds", "Time spent on reads from the disk, in seconds.", NS),
    "wr.reqs": _c("domain_block_write_requests", "Write requests completed on the disk."),
    "wr.bytes": _c("domain_block_write_bytes", "Bytes written to the disk."),
    "wr.times": _c("domain_block_write_seconds", "Time spent on writes to the disk, in seconds.", NS),
    "fl.reqs": _c("domain_block_flush_requests", "Flush requests completed on the disk."),
    "fl.times": _c("domain_block_flush_seconds", "Time spent on flushes of the disk, in seconds.", NS),
    "errs": _c("domain_block_errors", "I/O errors reported for the disk (Xen only)."),
    "capacity": _g("domain_block_capacity_bytes", "Size of the disk as the guest sees it, in bytes."),
    "allocation": _g("domain_block_allocation_bytes", "Highest offset written to the disk image (its allocation), in bytes."),
    "physical": _g("domain_block_physical_bytes", "Space the disk image takes on its host storage, in bytes."),
    "threshold": _g("domain_block_threshold_bytes", "Write threshold set on the disk (an event fires when allocation passes it), in bytes."),
}

INTERFACE_FIELDS = {
    "rx.bytes": _c("domain_interface_receive_bytes", "Bytes received by the guest on the vNIC."),
    "rx.pkts": _c("domain_interface_receive_packets", "Packets received by the guest on the vNIC."),
    "rx.errs": _c("domain_interface_receive_errors", "Receive errors on the vNIC."),
    "rx.drop": _c("domain_interface_receive_drops", "Received packets dropped on the vNIC."),
    "tx.bytes": _c("domain_interface_transmit_bytes", "Bytes transmitted by the guest on the vNIC."),
    "tx.pkts": _c("domain_interface_transmit_packets", "Packets transmitted by the guest on the vNIC."),
    "tx.errs": _c("domain_interface_transmit_errors", "Transmit errors on the vNIC."),
    "tx.drop": _c("domain_interface_transmit_drops", "Transmitted packets dropped on the vNIC."),
}

JOB_FIELDS = {
    "time_elapsed": _g("domain_job_elapsed_seconds", "Time since the domain's current job started, in seconds.", MS),
    "time_remaining": _g("domain_job_remaining_seconds", "Estimated time until the domain's current job ends, in seconds.", MS),
    "data_total": _g("domain_job_data_total_bytes", "Bytes the current job has to transfer in all."),
    "data_processed": _g("domain_job_data_processed_bytes", "Bytes the current job has transferred so far."),
    "data_remaining": _g("domain_job_data_remaining_bytes", "Bytes the current job still has to transfer."),
    "memory_total": _g("domain_job_memory_total_bytes", "Guest memory the current job has to transfer, in bytes."),
    "memory_processed": _g("domain_job_memory_processed_bytes", "Guest memory the current job has transferred so far, in bytes."),
    "memory_remaining": _g("domain_job_memory_remaining_bytes", "Guest memory the current job still has to transfer, in bytes."),
    "memory_dirty_rate": _g("domain_job_memory_dirty_rate_pages_per_second", "Rate at which the guest dirties memory during migration, in pages per second."),
    "memory_iteration": _g("domain_job_memory_iteration", "Number of the memory transfer pass the migration is in."),
}

D = ("domain",)
DT = ("domain", "target")


def build_families(snapshot: LibvirtSnapshot) -> list[Family]:
    up = gauge("libvirt_up", "Whether the last connection to libvirt succeeded (1) or not (0).")
    up.add((), 1 if snapshot.up else 0)
    families = [up]
    if snapshot.host is not None:
        families.extend(host_families(snapshot.host))
    if snapshot.up:
        families.extend(_domain_families(snapshot.domains))
        families.extend(inventory_families(snapshot.domains))
        families.append(lifecycle_family(snapshot.lifecycle_events))
        families.extend(staleness_families(snapshot))
    return [f for f in families if f.rows or f is up]


class _DomainFamilies:
    """Accumulates the per-domain families across all domains of one snapshot."""

    def __init__(self) -> None:
        self.info = gauge("domain_info", "Descriptive data of the domain, as labels.",
                          ["domain", "uuid", "os_type", "arch", "machine"])
        self.openstack = gauge("domain_openstack_info", "OpenStack Nova metadata of the domain.",
                               ["domain", "instance_name", "flavor", "project_name",
                                "project_uuid", "user_name", "user_uuid"])
        self.state_code = gauge("domain_state_code", "State of the domain as libvirt's code "
                                "(1 running, 3 paused, 5 shut off, 6 crashed, ...).", D)
        self.state = gauge("domain_state_info", "State of the domain and the reason it is in "
                           "that state, as labels.", ["domain", "state", "reason"])
        self.autostart = gauge("domain_autostart", "Whether the domain starts with the host (1) or not (0).", D)
        self.persistent = gauge("domain_persistent", "Whether the domain is persistent (1) or transient (0).", D)
        self.autostart_down = gauge("domain_autostart_not_running", "For domains marked autostart: 1 if the domain is not running or paused (it should be up and is not), else 0.", D)
        self.scalars = {k: f.family(D) for k, f in DOMAIN_FIELDS.items()}
        self.vcpus = {k: f.family(("domain", "vcpu")) for k, f in VCPU_FIELDS.items()}
        self.kvm_vcpus = {
            key: field.family(("domain", "vcpu", label) if label else ("domain", "vcpu"))
            for key, (field, label) in KVM_VCPU_FAMILIES.items()
        }
        self.blocks = {k: f.family(DT) for k, f in BLOCK_FIELDS.items()}
        self.nics = {k: f.family(DT) for k, f in INTERFACE_FIELDS.items()}
        self.jobs = {k: f.family(D) for k, f in JOB_FIELDS.items()}
        self.block_info = gauge("domain_block_info", "Descriptive data of a domain disk, as labels.",
                                ["domain", "target", "device", "bus", "source_type", "source",
                                 "protocol", "driver_type", "cache", "serial"])
        self.nic_info = gauge("domain_interface_info", "Descriptive data of a domain vNIC, as labels.",
                              ["domain", "target", "mac", "type", "source_bridge",
                               "source_network", "model"])
        self.nic_bridge = gauge("domain_interface_bridge_info", "The bridge (Linux or Open vSwitch) "
                                "a domain vNIC is plugged into; join on bridge to name the VMs a "
                                "bridge or uplink failure cuts off.", ["domain", "target", "bridge"])
        self.job = gauge("domain_job_info", "A job (migration, save, dump, backup, ...) runs on "
                         "the domain; its type and operation as labels.", ["domain", "type", "operation"])
        self.disk_error = gauge("domain_disk_error", "The domain reports an I/O error on the "
                                "disk (error no_space or unspec) that paused it.", ["domain", "target", "error"])

    def all(self) -> Iterable[Family]:
        yield from (self.info, self.openstack, self.state_code, self.state, self.autostart,
                    self.persistent, self.autostart_down)
        yield from self.scalars.values()
        yield from self.vcpus.values()
        yield from self.kvm_vcpus.values()
        yield from self.blocks.values()
        yield self.block_info
        yield from self.nics.values()
        yield self.nic_info
        yield self.nic_bridge
        yield self.job
        yield from self.jobs.values()
        yield self.disk_error


def _domain_families(domains: list[DomainRecord]) -> Iterable[Family]:
    acc = _DomainFamilies()
    for record in domains:
        _add_domain(acc, record)
    return acc.all()


def _add_domain(acc: _DomainFamilies, record: DomainRecord) -> None:
    name = record.name
    key_d = (name,)
    stats = record.stats
    state = int(stats.get("state.state", 0))
    acc.state_code.add(key_d, state)
    acc.state.add((name, state_name(state), reason_name(state, int(stats.get("state.reason", 0)))), 1)
    acc.autostart.add(key_d, 1 if record.autostart else 0)
    acc.persistent.add(key_d, 1 if record.persistent else 0)
    if record.autostart:
        acc.autostart_down.add(key_d, 0 if state in ACTIVE_STATES else 1)
    xml = record.xml
    if xml is not None:
        acc.info.add((name, record.uuid, xml.os_type, xml.arch, xml.machine), 1)
        if xml.nova is not None:
            n = xml.nova
            acc.openstack.add((name, n.name, n.flavor, n.project_name, n.project_uuid,
                               n.user_name, n.user_uuid), 1)
        for disk in xml.disks:
            acc.block_info.add((name, disk.target, disk.device, disk.bus, disk.source_type,
                                disk.source, disk.protocol, disk.driver_type, disk.cache,
                                disk.serial), 1)
        for nic in xml.interfaces:
            acc.nic_info.add((name, nic.target, nic.mac, nic.type, nic.source_bridge,
                              nic.source_network, nic.model), 1)
            if nic.source_bridge:
                acc.nic_bridge.add((name, nic.target, nic.source_bridge), 1)
    else:
        acc.info.add((name, record.uuid, "", "", ""), 1)
    _add_stats(acc, name, stats)
    if record.job is not None:
        _add_job(acc, name, record.job)
    for target, code in sorted((record.disk_errors or {}).items()):
        if code:
            acc.disk_error.add((name, target, disk_error_name(code)), 1)


def _add_stats(acc: _DomainFamilies, name: str, stats: dict[str, Any]) -> None:
    key_d = (name,)
    vcpus: dict[str, dict[str, Any]] = {}
    blocks: dict[str, dict[str, Any]] = {}
    nics: dict[str, dict[str, Any]] = {}
    for key, value in stats.items():
        field = DOMAIN_FIELDS.get(key)
        if field is not None:
            acc.scalars[key].rows.append((key_d, to_base(value, field.scale)))
            continue
        group, _, rest = key.partition(".")
        index, _, sub = rest.partition(".")
        if not sub or not index.isdigit():
            continue
        if group == "vcpu":
            vcpus.setdefault(index, {})[sub] = value
        elif group == "block":
            blocks.setdefault(index, {})[sub] = value
        elif group == "net":
            nics.setdefault(index, {})[sub] = value
    _add_indexed(acc.vcpus, VCPU_FIELDS, name, {i: i for i in vcpus}, vcpus)
    _add_kvm_vcpu_stats(acc.kvm_vcpus, name, vcpus)
    _add_indexed(acc.blocks, BLOCK_FIELDS, name,
                 {i: str(b.get("name", i)) for i, b in blocks.items()}, blocks)
    _add_indexed(acc.nics, INTERFACE_FIELDS, name,
                 {i: str(n.get("name", i)) for i, n in nics.items()}, nics)


def _add_indexed(
    families: dict[str, Family],
    fields: dict[str, Field],
    domain: str,
    labels: dict[str, str],
    groups: dict[str, dict[str, Any]],
) -> None:
    seen: set[str] = set()
    for index in sorted(groups, key=int):
        key = (domain, _distinct_target(labels.get(index, ""), index, seen))
        for sub, value in groups[index].items():
            field = fields.get(sub)
            if field is not None and not isinstance(value, str):
                families[sub].rows.append((key, to_base(value, field.scale)))


def _distinct_target(name: str, index: str, seen: set[str]) -> str:
    """A disk or vNIC's target label, unique within its domain by construction: SR-IOV
    hostdev vNICs report no name (or the same one), which would give duplicate series; they
    become `#<index>` (or `<name>#<index>`)."""
    target = name or f"#{index}"
    if target in seen:
        target = f"{target}#{index}"
    seen.add(target)
    return target


def _add_kvm_vcpu_stats(
    families: dict[str, Family], domain: str, vcpus: dict[str, dict[str, Any]]
) -> None:
    for index in sorted(vcpus, key=int):
        for sub, value in vcpus[index].items():
            target = KVM_VCPU_FIELDS.get(sub)
            if target is None or isinstance(value, str):
                continue
            key, label_value = target
            field = KVM_VCPU_FAMILIES[key][0]
            labels = (domain, index, label_value) if label_value else (domain, index)
            families[key].rows.append((labels, to_base(value, field.scale)))


def _add_job(acc: _DomainFamilies, name: str, job: dict[str, Any]) -> None:
    job_type = int(job.get("type", 0))
    if job_type == 0:
        return
    operation = job_operation_name(int(job.get("operation", 0)))
    acc.job.add((name, job_type_name(job_type), operation), 1)
    for key, field in JOB_FIELDS.items():
        if key in job:
            acc.jobs[key].add((name,), to_base(job[key], field.scale))
