"""Alerts of the capacity layer: one or more per fault id of that layer (alerts/taxonomy.yml)."""

from __future__ import annotations

from bundle.model import HOST, Alert, Case, s

ALERTS: list[Alert] = [
    Alert(
        name="HostCpuOvercommitted", layer="capacity", fault="overcommit", severity="warning",
        expr="instance:kvm_host_cpu_allocation:ratio > $cpu_allocation_ratio",
        for_="30m", summary="Running VMs have more vCPUs than is safe for the host.",
        description=f"Running VMs on {HOST} have vCPUs for {{{{ $value | humanizePercentage }}}} of its CPU threads.",
        impact="When the VMs get busy together they wait for CPU (steal time): latency and throughput suffer.",
        diagnosis=["`virsh nodeinfo`", "`virsh list` + `virsh vcpucount DOMAIN`", "the host dashboard (CPU steal per VM)"],
        mitigation=["Live-migrate VMs to hosts with spare CPU; resize oversized VMs."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_host_allocated_vcpus", 'scope="active"'): "48x40", s("kvm_host_cpus"): "32x40"}, at="35m", labels={},
                 description="Running VMs on hv1:9978 have vCPUs for 150% of its CPU threads."),
            Case(series={s("kvm_host_allocated_vcpus", 'scope="active"'): "16x40", s("kvm_host_cpus"): "32x40"}, at="35m"),
        ]),
    Alert(
        name="HostMemoryOvercommitted", layer="capacity", fault="overcommit", severity="warning",
        expr="instance:kvm_host_memory_allocation:ratio > $memory_allocation_ratio",
        for_="30m", summary="Running VMs may use more memory than is safe for the host.",
        description=f"Running VMs on {HOST} may use {{{{ $value | humanizePercentage }}}} of its memory.",
        impact="If the guests use what they were given, the host swaps or the OOM killer kills a VM.",
        diagnosis=["`virsh nodememstats`", "`virsh dommemstat DOMAIN`", "`free -m`"],
        mitigation=["Live-migrate VMs away or shrink their memory (balloon, `virsh setmem`)."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_host_allocated_memory_bytes", 'scope="active"'): "60x40", s("kvm_host_memory_bytes"): "64x40"},
                 at="35m", labels={}, description="Running VMs on hv1:9978 may use 93.75% of its memory."),
            Case(series={s("kvm_host_allocated_memory_bytes", 'scope="active"'): "32x40", s("kvm_host_memory_bytes"): "64x40"},
                 at="35m"),
        ]),
    Alert(
        name="HostCpuSaturated", layer="capacity", fault="overcommit", severity="warning",
        expr="instance:kvm_host_cpu_busy:ratio_rate5m > $host_cpu_busy_ratio",
        for_="15m", summary="The host's CPUs are fully busy.",
        description=f"The CPUs of {HOST} are {{{{ $value | humanizePercentage }}}} busy.",
        impact="VMs wait for CPU: everything on the host gets slower.",
        diagnosis=["`top` / `pidstat -u 5`", "`virsh domstats --vcpu`", "the host dashboard"],
        mitigation=["Find the busiest VMs (`kvm_domain_cpu_seconds_total`) and move them."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_host_cpu_seconds_total", 'mode="user"'): "0+59x30", s("kvm_host_cpu_seconds_total", 'mode="idle"'): "0+1x30"},
                 at="25m", labels={}, description="The CPUs of hv1:9978 are 98.33% busy."),
            Case(series={s("kvm_host_cpu_seconds_total", 'mode="user"'): "0+30x30", s("kvm_host_cpu_seconds_total", 'mode="idle"'): "0+30x30"},
                 at="25m"),
        ]),
    Alert(
        name="HostMemoryPressure", layer="capacity", fault="overcommit", severity="warning",
        expr='rate(kvm_host_pressure_full_seconds_total{$sel,resource="memory"}[5m]) > $memory_pressure_full_ratio',
        for_="10m", summary="Tasks on the host stall waiting for memory.",
        description=f"All non-idle tasks on {HOST} stalled on memory {{{{ $value | humanizePercentage }}}} of the time.",
        impact="The host is reclaiming or swapping hard: VMs crawl, the OOM killer is next.",
        diagnosis=["`cat /proc/pressure/memory`", "`vmstat 5`", "`free -m`"],
        mitigation=["Reduce memory overcommit: migrate VMs, shrink balloons."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_host_pressure_full_seconds_total", 'resource="memory"'): "0+30x30"}, at="25m",
                 labels={"resource": "memory"}, description="All non-idle tasks on hv1:9978 stalled on memory 50% of the time."),
            Case(series={s("kvm_host_pressure_full_seconds_total", 'resource="memory"'): "0+1x30"}, at="25m"),
        ]),
]
