"""The VM dashboard: one or more VMs' state with reasons, CPU, memory, disks, network and
jobs, a function per row."""

from __future__ import annotations

from typing import Any

from panels import Panel, Row, Thresholds, dashboard, increase, rate, sel, variable

d = 'domain=~"$domain"'
CRASHES = 'event=~"stopped|crashed",detail=~"crashed|failed|panicked|crashloaded"'


def state_row() -> Row:
    """The State row."""
    return (
        "State",
        [
            Panel(
                "State and reason",
                "The VM's libvirt state with the reason for it.",
                "short",
                [(sel("kvm_domain_state_info", d), "{{instance}} {{domain}} {{state}} ({{reason}})")],
                kind="state-timeline",
            ),
            Panel(
                "Lifecycle events",
                "Crashes, stops, pauses on I/O error and watchdog events.",
                "short",
                [
                    (
                        f"sum by (domain, event, detail) ({increase('kvm_domain_lifecycle_events_total', d)})",
                        "{{domain}} {{event}}/{{detail}}",
                    )
                ],
                faults_only=True,
            ),
            Panel(
                "Paused, not on an I/O error",
                "1 while the VM is paused for another reason than an I/O error (a pause left "
                "behind, a migration stuck paused, a watchdog); VmPausedTooLong fires after 15 minutes.",
                "short",
                [(sel("kvm_domain_state_info", d + ',state="paused",reason!="ioerror"'),
                  "{{domain}} ({{reason}})")],
                faults_only=True,
            ),
            Panel(
                "Crashes",
                "Crashes and QEMU deaths of the VM per interval; VmCrashLoop fires past "
                "`vm_crash_loop_crashes` within `vm_crash_loop_window` (3 in a day by default).",
                "short",
                [(f"sum by (domain) ({increase('kvm_domain_lifecycle_events_total', d + ',' + CRASHES)})",
                  "{{domain}}")],
                faults_only=True,
            ),
            Panel(
                "Cluster resource",
                "The Pacemaker resource (VirtualDomain) that manages the VM: its role on each node, and its "
                "fail count there.",
                "short",
                [(sel("kvm_pacemaker_resource_role") + " * on (job, instance, resource) group_left (domain) "
                  + sel("kvm_pacemaker_resource_info", d), "{{domain}} {{resource}} {{role}} on {{node}}"),
                 (sel("kvm_pacemaker_resource_failures") + " * on (job, instance, resource) group_left (domain) "
                  + sel("kvm_pacemaker_resource_info", d), "{{domain}} {{resource}} failures on {{node}}")],
                faults_only=True,
            ),
            Panel(
                "OOM kills",
                "The VM's QEMU killed by the OOM killer.",
                "short",
                [(f"sum by (domain) ({increase('kvm_kernel_oom_kills_total', d)})", "{{domain}}")],
                faults_only=True,
            ),
        ],
    )


def cpu_row(t: Thresholds) -> Row:
    """The CPU row."""
    return (
        "CPU",
        [
            Panel(
                "CPU",
                "CPU time the VM used, in CPUs.",
                "short",
                [(rate("kvm_domain_cpu_seconds_total", d), "{{domain}}")],
            ),
            Panel(
                "vCPU time",
                "Time each vCPU ran, in CPUs.",
                "short",
                [(rate("kvm_domain_vcpu_seconds_total", d), "{{domain}} vcpu{{vcpu}}")],
            ),
            Panel(
                "vCPU wait and steal",
                "Time vCPUs waited for I/O and for a host CPU (steal).",
                "percentunit",
                [
                    (rate("kvm_domain_vcpu_wait_seconds_total", d), "{{domain}} vcpu{{vcpu}} wait"),
                    (rate("kvm_domain_vcpu_delay_seconds_total", d), "{{domain}} vcpu{{vcpu}} steal"),
                ],
            ),
            Panel(
                "vCPU usage and steal of the VM",
                "Busy and steal (run-queue delay) time of the VM's vCPUs as a share of its vCPUs "
                "over 5 minutes; VmCpuStealHigh fires when steal stays above the line for 15 minutes.",
                "percentunit",
                [
                    (sel("instance_domain:kvm_domain_vcpu_usage:ratio_rate5m", d), "{{domain}} busy"),
                    (sel("instance_domain:kvm_domain_vcpu_delay:ratio_rate5m", d), "{{domain}} steal"),
                ],
                steps=[(t["vm_vcpu_delay_ratio"], "orange")],
            ),
        ],
    )


def memory_row(t: Thresholds) -> Row:
    """The Memory row."""
    return (
        "Memory",
        [
            Panel(
                "Memory and balloon",
                "Current (balloon) and maximum memory.",
                "bytes",
                [
                    (sel("kvm_domain_memory_current_bytes", d), "{{domain}} current"),
                    (sel("kvm_domain_memory_maximum_bytes", d), "{{domain}} maximum"),
                ],
            ),
            Panel(
                "Guest memory",
                "Resident memory of the VM on the host, and usable/unused memory as the guest's "
                "balloon driver reports it (absent without the driver).",
                "bytes",
                [
                    (sel("kvm_domain_memory_rss_bytes", d), "{{domain}} resident"),
                    (sel("kvm_domain_memory_usable_bytes", d), "{{domain}} usable"),
                    (sel("kvm_domain_memory_unused_bytes", d), "{{domain}} unused"),
                ],
            ),
            Panel(
                "Memory pressure",
                "The share of guest memory usable without swapping, from the balloon driver (empty "
                "without it); VmMemoryPressure fires below `vm_memory_usable_ratio` (10% by default).",
                "percentunit",
                [(sel("instance_domain:kvm_domain_memory_usable:ratio", d), "{{domain}} usable")],
                faults_only=True,
            ),
            Panel(
                "Guest swap",
                "Bytes the guest swaps in and out per second (balloon driver statistics); "
                "VmMemoryPressure fires above `vm_swap_bytes_per_second` too.",
                "Bps",
                [(sel("instance_domain:kvm_domain_memory_swap:bytes_rate5m", d), "{{domain}}")],
                steps=[(t["vm_swap_bytes_per_second"], "orange")],
                faults_only=True,
            ),
            Panel(
                "Memory statistics age",
                "Seconds since the guest last reported memory statistics (only guests that ever did); "
                "VmGuestMemoryStatsMissing fires past `vm_memory_stats_stale_seconds`.",
                "s",
                [(f"time() - {sel('kvm_domain_memory_stats_last_update_timestamp_seconds', d)}"
                  f" and {sel('kvm_domain_memory_stats_last_update_timestamp_seconds', d)} > 0", "{{domain}}")],
                steps=[(t["vm_memory_stats_stale_seconds"], "orange")],
                faults_only=True,
            ),
            Panel(
                "QEMU overhead",
                "QEMU resident memory beyond guest RAM.",
                "bytes",
                [(sel("kvm_domain_qemu_memory_overhead_bytes", d), "{{domain}}")],
            ),
        ],
    )


def disks_row(t: Thresholds) -> Row:
    """The Disks row."""
    return (
        "Disks",
        [
            Panel(
                "Disk IOPS",
                "Read and write requests per second per disk.",
                "iops",
                [
                    (rate("kvm_domain_block_read_requests_total", d), "{{domain}} {{target}} read"),
                    (rate("kvm_domain_block_write_requests_total", d), "{{domain}} {{target}} write"),
                ],
            ),
            Panel(
                "Disk throughput",
                "Bytes read and written per second per disk.",
                "Bps",
                [
                    (rate("kvm_domain_block_read_bytes_total", d), "{{domain}} {{target}} read"),
                    (rate("kvm_domain_block_write_bytes_total", d), "{{domain}} {{target}} write"),
                ],
            ),
            Panel(
                "Disk latency",
                "Average time per request; VmDiskLatencyHigh fires when reads or writes stay above "
                "the line (`vm_disk_latency_seconds`) for 10 minutes.",
                "s",
                [
                    (
                        f"{rate('kvm_domain_block_read_seconds_total', d)} / {rate('kvm_domain_block_read_requests_total', d)}",
                        "{{domain}} {{target}} read",
                    ),
                    (
                        f"{rate('kvm_domain_block_write_seconds_total', d)} / {rate('kvm_domain_block_write_requests_total', d)}",
                        "{{domain}} {{target}} write",
                    ),
                ],
                steps=[(t["vm_disk_latency_seconds"], "orange")],
            ),
            Panel(
                "Disk errors",
                "Disk errors that paused the VM.",
                "short",
                [(sel("kvm_domain_disk_error", d), "{{domain}} {{target}} {{error}}")],
                faults_only=True,
            ),
            Panel(
                "Disk integrity",
                "Latest qemu-img check result per disk.",
                "short",
                [(sel("kvm_domain_disk_check_status", d) + " == 1", "{{domain}} {{target}} {{status}}")],
                kind="table",
                faults_only=True,
            ),
        ],
    )


def network_and_jobs_row() -> Row:
    """The Network and jobs row."""
    return (
        "Network and jobs",
        [
            Panel(
                "vNIC traffic",
                "Bytes per second per vNIC.",
                "Bps",
                [
                    (rate("kvm_domain_interface_receive_bytes_total", d), "{{domain}} {{target}} rx"),
                    (rate("kvm_domain_interface_transmit_bytes_total", d), "{{domain}} {{target}} tx"),
                ],
            ),
            Panel(
                "vNIC drops",
                "Dropped packets per second per vNIC.",
                "pps",
                [
                    (rate("kvm_domain_interface_receive_drops_total", d), "{{domain}} {{target}} rx"),
                    (rate("kvm_domain_interface_transmit_drops_total", d), "{{domain}} {{target}} tx"),
                ],
            ),
            Panel(
                "Migration jobs",
                "Data left to transfer by a running job (migration, save, ...); VmMigrationStuck "
                "fires when it has not fallen for `vm_migration_stuck_window`.",
                "bytes",
                [(sel("kvm_domain_job_data_remaining_bytes", d), "{{domain}}")],
                faults_only=True,
            ),
            Panel(
                "Migration convergence",
                "Memory the guest dirties per second against what the migration sends; "
                "VmMigrationTooSlow fires while dirtying stays ahead for 5 minutes.",
                "Bps",
                [
                    (f"{sel('kvm_domain_job_memory_dirty_rate_pages_per_second', d)} * on (job, instance, domain) "
                     f"{sel('kvm_domain_job_memory_page_size_bytes', d)}", "{{domain}} dirtied"),
                    (sel("kvm_domain_job_memory_bandwidth_bytes_per_second", d), "{{domain}} sent"),
                ],
                faults_only=True,
            ),
        ],
    )


def availability_row(t: Thresholds) -> Row:
    """The Availability row: the VM's SLO (alerts/bundle/slo.py)."""
    target = t["vm_availability_target"]
    return (
        "Availability",
        [
            Panel(
                "Availability (30 days)",
                f"Share of the time the VM should run that it ran, over 30 days (target {target:.2%}): "
                "crashes, I/O-error pauses and failed starts of autostart VMs count against it, "
                "planned shutdowns and pauses do not.",
                "percentunit",
                [(sel("instance_domain:kvm_domain_availability:ratio_avg30d", d), "{{domain}}")],
                kind="stat",
                steps=[],
            ),
            Panel(
                "Error budget left",
                "Share of the 30-day error budget (1 - target) not yet spent; the burn-rate alerts "
                "VmAvailabilityBudgetBurningFast/Slow fire when it goes fast.",
                "percentunit",
                [(sel("instance_domain:kvm_domain_error_budget_remaining:ratio", d), "{{domain}}")],
                kind="stat",
                steps=[],
            ),
            Panel(
                "Unavailable",
                "1 while the VM counts as down for its SLO, 0 while it runs (no value while it is "
                "off or paused on purpose).",
                "bool",
                [(sel("instance_domain:kvm_domain_unavailable:bool", d), "{{domain}}")],
                kind="state-timeline",
                steps=[],
            ),
        ],
    )


def build(t: Thresholds) -> dict[str, Any]:
    rows = [state_row(), availability_row(t), cpu_row(t), memory_row(t), disks_row(t), network_and_jobs_row()]
    domain = variable(
        "domain", 'label_values(kvm_domain_info{job=~"$job", instance=~"$instance"}, domain)', "VM"
    )
    return dashboard(
        "kvm-vm",
        "KVM VM",
        "One or more VMs: state with reasons, CPU, memory, disks, network, jobs.",
        rows,
        [domain],
    )
