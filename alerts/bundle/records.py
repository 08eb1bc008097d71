"""Recording rules: the ratios and rates the alerts and dashboards share."""

from __future__ import annotations

from bundle.model import Record

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
    Record("instance_device:kvm_network_receive_packets:rate5m",
           "rate(kvm_network_receive_packets_total{$sel}[5m])"),
    # The baseline leaves out the last hour, so a storm does not raise its own yardstick.
    Record("instance_device:kvm_network_receive_packets:rate5m_avg1w",
           "avg_over_time(instance_device:kvm_network_receive_packets:rate5m[1w] offset 1h)"),
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
