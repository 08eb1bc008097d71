"""Recording rules: the ratios and rates the alerts and dashboards share."""

from __future__ import annotations

from bundle.model import Record, RecordCase, s

RECORDS = [
    Record("instance:kvm_host_cpu_allocation:ratio",
           'sum by (job, instance) (kvm_host_allocated_vcpus{$sel,scope="active"})'
           " / on (job, instance) kvm_host_cpus{$sel}"),
    Record("instance:kvm_host_memory_allocation:ratio",
           'sum by (job, instance) (kvm_host_allocated_memory_bytes{$sel,scope="active"})'
           " / on (job, instance) kvm_host_memory_bytes{$sel}"),
    Record("instance:kvm_host_cpu_busy:ratio_rate5m",
           '1 - sum by (job, instance) (rate(kvm_host_cpu_seconds_total{$sel,mode=~"idle|iowait"}[5m]))'
           " / on (job, instance) sum by (job, instance) (rate(kvm_host_cpu_seconds_total{$sel}[5m]))"),
    Record("instance:kvm_netstat_icmp_time_excds:rate5m",
           "sum by (job, instance) (rate(kvm_netstat_icmp_in_time_excds_total{$sel}[5m])"
           " + rate(kvm_netstat_icmp_out_time_excds_total{$sel}[5m]))"),
    Record("instance_device:kvm_network_errors:rate5m",
           "rate(kvm_network_receive_errs_total{$sel}[5m]) + rate(kvm_network_transmit_errs_total{$sel}[5m])"),
    Record("instance_device:kvm_network_receive_packets:rate5m",
           "rate(kvm_network_receive_packets_total{$sel}[5m])"),
    # The baseline leaves out the last hour, so a storm does not raise its own yardstick.
    Record("instance_device:kvm_network_receive_packets:rate5m_avg1w",
           "avg_over_time(instance_device:kvm_network_receive_packets:rate5m[1w] offset 1h)"),
    # Probes: loss as a ratio of the window, RTT p95 and its weekly baseline (leaving out the
    # last hour, so a surge does not raise its own yardstick).
    Record("instance_target:kvm_probe_loss:ratio5m",
           "1 - sum by (job, instance, target, kind) (increase(kvm_probe_received_total{$sel}[5m]))"
           " / sum by (job, instance, target, kind) (increase(kvm_probe_sent_total{$sel}[5m]) > 0)"),
    Record("instance_target:kvm_probe_rtt_seconds:p95_5m",
           "histogram_quantile(0.95, sum by (job, instance, target, kind, le)"
           " (rate(kvm_probe_rtt_seconds_bucket{$sel}[5m])))"),
    Record("instance_target:kvm_probe_rtt_seconds:p95_5m_avg1w",
           "avg_over_time(instance_target:kvm_probe_rtt_seconds:p95_5m[1w] offset 1h)"),
    Record("instance_pool:kvm_zfs_write_amplification:ratio_rate1h",
           'sum by (job, instance, pool) (rate(kvm_zfs_pool_io_total{$sel,stat="nwritten"}[1h]))'
           " / on (job, instance, pool)"
           " sum by (job, instance, pool) (rate(kvm_zfs_dataset_written_bytes_total{$sel}[1h])) > 0"),
    Record("instance_domain:kvm_domain_recovery_point:timestamp_seconds",
           "max by (job, instance, domain) ("
           "kvm_domain_newest_snapshot_timestamp_seconds{$sel}"
           " or (kvm_domain_disk_zfs_dataset_info{$sel}"
           " * on (job, instance, dataset) group_left ()"
           " kvm_zfs_dataset_newest_snapshot_timestamp_seconds{$sel}))"),
]

# Per VM, in the style of KubeVirt's `kubevirt_vmi:*` rules: what the VM dashboard and the
# per-VM alerts read. Ratios of CPU are of the VM's own vCPUs (1 = every vCPU busy).
_VM = "job, instance, domain"
_DISK = "job, instance, domain, target"


def _per_vcpu(metric: str) -> str:
    return (f"sum by ({_VM}) (rate({metric}{{$sel}}[5m]))"
            f" / count by ({_VM}) ({metric}{{$sel}})")


def _latency(kind: str) -> str:
    """Seconds per request of a disk over 5 minutes; a disk without requests has none."""
    return (f"rate(kvm_domain_block_{kind}_seconds_total{{$sel}}[5m])"
            f" / (rate(kvm_domain_block_{kind}_requests_total{{$sel}}[5m]) > 0)")


def _two_way(receive: str, transmit: str) -> str:
    return (f"sum by ({_DISK}) (rate({receive}{{$sel}}[5m]))"
            f" + sum by ({_DISK}) (rate({transmit}{{$sel}}[5m]))")


def _vm_case(series: dict[str, str], samples: dict[str, float]) -> RecordCase:
    return RecordCase(series=series, at="10m", samples=samples)


VCPU = 'domain="web",vcpu='
DISK = 'domain="web",target="vda"'
VM_RECORDS = [
    Record("instance_domain:kvm_domain_vcpu_usage:ratio_rate5m", _per_vcpu("kvm_domain_vcpu_seconds_total"),
           [_vm_case({s("kvm_domain_vcpu_seconds_total", VCPU + '"0"'): "0+30x10",
                      s("kvm_domain_vcpu_seconds_total", VCPU + '"1"'): "0+60x10"}, {'domain="web"': 0.75})]),
    # run-queue delay: the time a vCPU was runnable but the host ran something else (steal)
    Record("instance_domain:kvm_domain_vcpu_delay:ratio_rate5m", _per_vcpu("kvm_domain_vcpu_delay_seconds_total"),
           [_vm_case({s("kvm_domain_vcpu_delay_seconds_total", VCPU + '"0"'): "0+15x10",
                      s("kvm_domain_vcpu_delay_seconds_total", VCPU + '"1"'): "0+0x10"}, {'domain="web"': 0.125})]),
    Record("instance_domain:kvm_domain_vcpu_wait:ratio_rate5m", _per_vcpu("kvm_domain_vcpu_wait_seconds_total"),
           [_vm_case({s("kvm_domain_vcpu_wait_seconds_total", VCPU + '"0"'): "0+30x10"}, {'domain="web"': 0.5})]),
    Record("instance_domain:kvm_domain_memory_used:bytes",
           "kvm_domain_memory_available_bytes{$sel} - kvm_domain_memory_unused_bytes{$sel}",
           [_vm_case({s("kvm_domain_memory_available_bytes", 'domain="web"'): "1024x10",
                      s("kvm_domain_memory_unused_bytes", 'domain="web"'): "256x10"}, {'domain="web"': 768})]),
    # the share of guest memory usable without swapping: low is memory pressure
    Record("instance_domain:kvm_domain_memory_usable:ratio",
           "kvm_domain_memory_usable_bytes{$sel} / kvm_domain_memory_available_bytes{$sel}",
           [_vm_case({s("kvm_domain_memory_usable_bytes", 'domain="web"'): "256x10",
                      s("kvm_domain_memory_available_bytes", 'domain="web"'): "1024x10"}, {'domain="web"': 0.25})]),
    Record("instance_domain:kvm_domain_memory_major_faults:rate5m",
           "rate(kvm_domain_memory_major_faults_total{$sel}[5m])",
           [_vm_case({s("kvm_domain_memory_major_faults_total", 'domain="web"'): "0+120x10"}, {'domain="web"': 2})]),
    Record("instance_domain:kvm_domain_memory_swap:bytes_rate5m",
           "rate(kvm_domain_memory_swap_in_bytes_total{$sel}[5m])"
           " + rate(kvm_domain_memory_swap_out_bytes_total{$sel}[5m])",
           [_vm_case({s("kvm_domain_memory_swap_in_bytes_total", 'domain="web"'): "0+60x10",
                      s("kvm_domain_memory_swap_out_bytes_total", 'domain="web"'): "0+120x10"},
                     {'domain="web"': 3})]),
    *(Record(f"instance_domain_target:kvm_domain_block_{kind}_latency:seconds_rate5m", _latency(kind),
             [_vm_case({s(f"kvm_domain_block_{kind}_seconds_total", DISK): "0+15x10",
                        s(f"kvm_domain_block_{kind}_requests_total", DISK): "0+60x10",
                        s(f"kvm_domain_block_{kind}_seconds_total", 'domain="web",target="vdb"'): "0x10",
                        s(f"kvm_domain_block_{kind}_requests_total", 'domain="web",target="vdb"'): "0x10"},
                       {DISK: 0.25})])  # vdb, idle, has no latency
      for kind in ("read", "write", "flush")),
    Record("instance_domain_target:kvm_domain_block_errors:rate5m", "rate(kvm_domain_block_errors_total{$sel}[5m])",
           [_vm_case({s("kvm_domain_block_errors_total", DISK): "0+60x10"}, {DISK: 1})]),
    Record("instance_domain_target:kvm_domain_interface_errors:rate5m",
           _two_way("kvm_domain_interface_receive_errors_total", "kvm_domain_interface_transmit_errors_total"),
           [_vm_case({s("kvm_domain_interface_receive_errors_total", 'domain="web",target="tap0"'): "0+60x10",
                      s("kvm_domain_interface_transmit_errors_total", 'domain="web",target="tap0"'): "0+0x10"},
                     {'domain="web",target="tap0"': 1})]),
    Record("instance_domain_target:kvm_domain_interface_drops:rate5m",
           _two_way("kvm_domain_interface_receive_drops_total", "kvm_domain_interface_transmit_drops_total"),
           [_vm_case({s("kvm_domain_interface_receive_drops_total", 'domain="web",target="tap0"'): "0+30x10",
                      s("kvm_domain_interface_transmit_drops_total", 'domain="web",target="tap0"'): "0+90x10"},
                     {'domain="web",target="tap0"': 2})]),
]
RECORDS += VM_RECORDS
