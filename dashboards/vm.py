"""The VM dashboard: one or more VMs' state with reasons, CPU, memory, disks, network and
jobs, a function per row."""

from __future__ import annotations

from typing import Any

from panels import Panel, Row, dashboard, increase, rate, sel, variable

d = 'domain=~"$domain"'


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
                "OOM kills",
                "The VM's QEMU killed by the OOM killer.",
                "short",
                [(f"sum by (domain) ({increase('kvm_kernel_oom_kills_total', d)})", "{{domain}}")],
                faults_only=True,
            ),
        ],
    )


def cpu_row() -> Row:
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
        ],
    )


def memory_row() -> Row:
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
                "QEMU overhead",
                "QEMU resident memory beyond guest RAM.",
                "bytes",
                [(sel("kvm_domain_qemu_memory_overhead_bytes", d), "{{domain}}")],
            ),
        ],
    )


def disks_row() -> Row:
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
                "Average time per request.",
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
                "Data left to transfer by a running job (migration, save, ...).",
                "bytes",
                [(sel("kvm_domain_job_data_remaining_bytes", d), "{{domain}}")],
                faults_only=True,
            ),
        ],
    )


def build() -> dict[str, Any]:
    rows = [state_row(), cpu_row(), memory_row(), disks_row(), network_and_jobs_row()]
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
