"""What each libvirt bulk-stats field becomes: its metric, type, scale to base units and help.

Bulk stats records are flat dicts (`cpu.time`, `vcpu.0.wait`, `block.1.rd.bytes`, ...);
adding a field is one line here, and every metric's help text sits in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from exporter.metrics import Family, counter, gauge

# A field's scale to base units: multiply by `scale` when >= 1, else divide by its inverse
# (dividing 2348200000 by 1e9 gives 2.3482; multiplying by 1e-9 gives 2.3482000000000003).
NS = 1e-9
KIB = 1024
MS = 1e-3


def scaling(scale: float) -> tuple[float, int]:
    """(multiplier, divisor or 0 to multiply) of a scale, as `to_base` applies it."""
    return (scale, 0) if scale >= 1 else (1, round(1 / scale))


def to_base(value: float, scale: float) -> float:
    multiplier, divisor = scaling(scale)
    return value / divisor if divisor else value * multiplier


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
    # optional groups (--libvirt.stats-groups)
    "iothread.count": _g("domain_iothreads", "I/O threads of the domain (iothread group)."),
    "dirtyrate.megabytes_per_second": _g("domain_memory_dirty_rate_bytes_per_second", "Rate at which the guest dirtied memory in its last dirty-rate measurement (`virsh domdirtyrate-calc`), in bytes per second (dirtyrate group).", 1 << 20),
    "dirtyrate.calc_start_time": _g("domain_memory_dirty_rate_measured_timestamp_seconds", "When the last dirty-rate measurement started, as a Unix timestamp."),
    "dirtyrate.calc_period": _g("domain_memory_dirty_rate_period_seconds", "How long the last dirty-rate measurement ran, in seconds."),
    "dirtyrate.calc_status": _g("domain_memory_dirty_rate_status", "State of the dirty-rate measurement (0 never started, 1 measuring, 2 measured)."),
}

VCPU_FIELDS = {
    "state": _g("domain_vcpu_state", "State of the vCPU (0 offline, 1 running, 2 blocked)."),
    "time": _c("domain_vcpu_seconds", "CPU time used by the vCPU, in seconds.", NS),
    "wait": _c("domain_vcpu_wait_seconds", "Time the vCPU wanted to run but was not scheduled (other than for I/O), in seconds.", NS),
    "delay": _c("domain_vcpu_delay_seconds", "Time the vCPU spent runnable waiting in the host run queue (steal as the guest sees it), in seconds.", NS),
    "cpu": _g("domain_vcpu_cpu", "Host CPU the vCPU's thread last ran on (its current placement)."),
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
    "memory_bps": _g("domain_job_memory_bandwidth_bytes_per_second", "Rate at which the migration transfers guest memory, in bytes per second."),
    "memory_page_size": _g("domain_job_memory_page_size_bytes", "Size of the guest memory pages the migration transfers (the unit of the dirty rate), in bytes."),
    "memory_constant": _g("domain_job_memory_constant_pages", "Pages filled with one constant byte the migration sent as that byte alone."),
    "memory_normal": _g("domain_job_memory_normal_pages", "Pages the migration sent whole."),
    "memory_postcopy_requests": _g("domain_job_memory_postcopy_requests", "Pages the destination requested from the source during post-copy."),
    "disk_total": _g("domain_job_disk_total_bytes", "Disk data the current job has to transfer (storage migration), in bytes."),
    "disk_processed": _g("domain_job_disk_processed_bytes", "Disk data the current job has transferred so far, in bytes."),
    "disk_remaining": _g("domain_job_disk_remaining_bytes", "Disk data the current job still has to transfer, in bytes."),
    "disk_bps": _g("domain_job_disk_bandwidth_bytes_per_second", "Rate at which the job transfers disk data, in bytes per second."),
    "downtime": _g("domain_job_downtime_seconds", "Downtime of the migration: expected while it runs, actual once done, in seconds.", MS),
    "setup_time": _g("domain_job_setup_seconds", "Time the migration took to set up before transferring data, in seconds.", MS),
    "compression_cache": _g("domain_job_compression_cache_bytes", "Size of the migration's XBZRLE compression cache, in bytes."),
    "compression_bytes": _g("domain_job_compression_bytes", "Bytes the migration compressed with XBZRLE."),
    "compression_pages": _g("domain_job_compression_pages", "Pages the migration compressed with XBZRLE."),
    "compression_cache_misses": _g("domain_job_compression_cache_misses", "Pages not found in the migration's XBZRLE cache."),
    "compression_overflow": _g("domain_job_compression_overflow_pages", "Pages XBZRLE could not compress (sent whole instead)."),
    "auto_converge_throttle": _g("domain_job_auto_converge_throttle_ratio", "Share of vCPU time auto-converge takes from the guest to let the migration converge.", 0.01),
}

D = ("domain",)
DT = ("domain", "target")
