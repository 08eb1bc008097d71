"""The host dashboard: one hypervisor's hardware, kernel events, KVM readiness, links,
storage and capacity, a function per row (faults named in each row's title)."""

from __future__ import annotations

from typing import Any

from panels import Panel, Row, Thresholds, dashboard, increase, rate, sel


def temperature_steps(t: Thresholds) -> list[tuple[float, str]]:
    return [(t["temperature_warning_celsius"], "orange"), (t["temperature_critical_celsius"], "red")]


def thermal_row(t: Thresholds) -> Row:
    """The Thermal (cpu_overheat) row."""
    temp_steps = temperature_steps(t)
    return (
        "Thermal (cpu_overheat)",
        [
            Panel(
                "Thermal zones",
                "Temperature of each thermal zone.",
                "celsius",
                [(sel("kvm_thermal_zone_temperature_celsius"), "{{instance}} {{type}} {{zone}}")],
                steps=temp_steps,
            ),
            Panel(
                "Trip points",
                "The zones' trip points (passive, hot, critical).",
                "celsius",
                [(sel("kvm_thermal_zone_trip_point_celsius"), "{{instance}} {{type}} {{trip_type}}")],
            ),
            Panel(
                "Sensors",
                "hwmon temperature sensors.",
                "celsius",
                [(sel("kvm_hwmon_temperature_celsius"), "{{instance}} {{chip}} {{sensor}}")],
                steps=temp_steps,
            ),
            Panel(
                "CPU throttling",
                "Thermal throttle events per second, per core and package.",
                "ops",
                [
                    (f"sum by (instance) ({rate('kvm_cpu_core_throttles_total')})", "{{instance}} cores"),
                    (
                        f"sum by (instance) ({rate('kvm_cpu_package_throttles_total')})",
                        "{{instance}} packages",
                    ),
                ],
            ),
            Panel(
                "Fans",
                "Fan speeds.",
                "rotrpm",
                [(sel("kvm_hwmon_fan_rpm"), "{{instance}} {{chip}} {{sensor}}")],
            ),
        ],
    )


def memory_ecc_row() -> Row:
    """The Memory ECC (memory_ecc) row."""
    return (
        "Memory ECC (memory_ecc)",
        [
            Panel(
                "Correctable errors per DIMM",
                "Corrected ECC errors per second, per DIMM.",
                "ops",
                [
                    (
                        rate("kvm_edac_dimm_correctable_errors_total"),
                        "{{instance}} mc{{controller}} {{dimm}}",
                    )
                ],
            ),
            Panel(
                "Uncorrectable errors",
                "Uncorrectable ECC errors per memory controller.",
                "ops",
                [(rate("kvm_edac_uncorrectable_errors_total"), "{{instance}} mc{{controller}}")],
                faults_only=True,
                steps=[(0.0001, "red")],
            ),
            Panel(
                "Machine checks (kernel log)",
                "Machine-check and EDAC errors the kernel logged.",
                "short",
                [
                    (
                        f"sum by (instance, kind) ({increase('kvm_kernel_hardware_errors_total')})",
                        "{{instance}} {{kind}}",
                    )
                ],
            ),
        ],
    )


def disks_smart_row(t: Thresholds) -> Row:
    """The Disks: SMART (disk_smart) row."""
    temp_steps = temperature_steps(t)
    return (
        "Disks: SMART (disk_smart)",
        [
            Panel(
                "SMART health",
                "1 where the disk passes its SMART self-assessment.",
                "bool",
                [(sel("kvm_smart_health_passed"), "{{instance}} {{device}}")],
                steps=[],
            ),
            Panel(
                "Failure predictors",
                "Reallocated and pending sectors.",
                "short",
                [
                    (sel("kvm_smart_reallocated_sectors"), "{{instance}} {{device}} reallocated"),
                    (sel("kvm_smart_pending_sectors"), "{{instance}} {{device}} pending"),
                ],
                steps=[(1, "orange")],
            ),
            Panel(
                "Disk temperature",
                "Drive temperatures and each drive's own limit; SmartTemperatureAboveDriveLimit "
                "fires above the limit.",
                "celsius",
                [
                    (sel("kvm_smart_temperature_celsius"), "{{instance}} {{device}}"),
                    (sel("kvm_smart_temperature_trip_celsius"), "{{instance}} {{device}} limit"),
                ],
                steps=temp_steps,
            ),
            Panel(
                "NVMe wear",
                "Life used of NVMe drives.",
                "percentunit",
                [(sel("kvm_smart_nvme_percentage_used_ratio"), "{{instance}} {{device}}")],
                steps=[(t["nvme_percentage_used_ratio"], "orange")],
            ),
            Panel(
                "NVMe spare",
                "Available spare capacity of NVMe drives and the threshold each sets; "
                "SmartNvmeSpareLow fires below it.",
                "percentunit",
                [
                    (sel("kvm_smart_nvme_available_spare_ratio"), "{{instance}} {{device}}"),
                    (sel("kvm_smart_nvme_available_spare_threshold_ratio"), "{{instance}} {{device}} threshold"),
                ],
            ),
            Panel(
                "NVMe media errors",
                "New media and data integrity errors per interval; SmartNvmeMediaErrorsGrowing fires on any.",
                "short",
                [(f"sum by (instance, device) ({increase('kvm_smart_nvme_media_errors_total')}) > 0",
                  "{{instance}} {{device}}")],
                faults_only=True,
            ),
        ],
    )


def kernel_events_row(t: Thresholds) -> Row:
    """The Kernel events (process_oom) row."""
    return (
        "Kernel events (process_oom)",
        [
            Panel(
                "OOM kills",
                "Processes the OOM killer killed, per command and VM.",
                "short",
                [
                    (
                        f"sum by (instance, comm, domain) ({increase('kvm_kernel_oom_kills_total')})",
                        "{{instance}} {{comm}} {{domain}}",
                    )
                ],
                faults_only=True,
            ),
            Panel(
                "Block I/O errors",
                "Block-layer errors per device.",
                "short",
                [
                    (
                        f"sum by (instance, device) ({increase('kvm_kernel_block_io_errors_total')})",
                        "{{instance}} {{device}}",
                    )
                ],
                faults_only=True,
            ),
            Panel(
                "Memory pressure",
                "Share of time all tasks stalled on memory (PSI full).",
                "percentunit",
                [(rate("kvm_host_pressure_full_seconds_total", 'resource="memory"'), "{{instance}}")],
                steps=[(t["memory_pressure_full_ratio"], "orange")],
            ),
        ],
    )


def kvm_readiness_and_config_row() -> Row:
    """The KVM readiness and config (kmod_failure, config_corruption) row."""
    return (
        "KVM readiness and config (kmod_failure, config_corruption)",
        [
            Panel(
                "KVM checks",
                "Each KVM prerequisite: 1 holds, 0 fails (reason in the legend).",
                "bool",
                [(sel("kvm_host_kvm_check"), "{{instance}} {{check}} {{reason}}")],
                kind="table",
            ),
            Panel(
                "Config files not parsing",
                "libvirt configuration files that are corrupt.",
                "short",
                [(sel("kvm_libvirt_config_file_valid") + " == 0", "{{instance}} {{path}}")],
                faults_only=True,
            ),
            Panel(
                "Config drift",
                "Domains whose file differs from libvirt's definition.",
                "short",
                [(sel("kvm_domain_config_drift") + " == 1", "{{instance}} {{domain}}")],
                faults_only=True,
            ),
        ],
    )


def links_and_redundancy_row(t: Thresholds) -> Row:
    """The Links and redundancy (vswitch_down) row."""
    return (
        "Links and redundancy (vswitch_down)",
        [
            Panel(
                "Interfaces up",
                "1 where the interface is up.",
                "bool",
                [(sel("kvm_network_up"), "{{instance}} {{device}}")],
            ),
            Panel(
                "Bridge uplinks",
                "1 where the bridge has an uplink port up.",
                "bool",
                [(sel("kvm_bridge_uplink_up"), "{{instance}} {{bridge}}")],
            ),
            Panel(
                "Bond slaves active",
                "Active slaves of each bond.",
                "short",
                [(sel("kvm_bond_active_slaves"), "{{instance}} {{bond}}")],
            ),
            Panel(
                "Carrier changes",
                "Link flaps per interface.",
                "short",
                [
                    (
                        f"sum by (instance, device) ({increase('kvm_network_carrier_changes_total')})",
                        "{{instance}} {{device}}",
                    )
                ],
            ),
            Panel(
                "Virtual networks",
                "1 where a libvirt virtual network is active; LibvirtNetworkInactive fires for an "
                "autostart network that is not.",
                "bool",
                [(sel("kvm_libvirt_network_active"), "{{instance}} {{network}}")],
            ),
            Panel(
                "Interface errors",
                "Receive and transmit errors per second per interface (5-minute rate); "
                "NetworkInterfaceErrors fires above the line on physical, bond and VLAN links.",
                "pps",
                [(sel("instance_device:kvm_network_errors:rate5m"), "{{instance}} {{device}}")],
                steps=[(t["nic_errors_per_second"], "orange")],
            ),
        ],
    )


def storm_signals_row(t: Thresholds) -> Row:
    """The Storm signals (traffic_storm, routing_loop) row."""
    return (
        "Storm signals (traffic_storm, routing_loop)",
        [
            Panel(
                "Received packets",
                "Packets per second per interface.",
                "pps",
                [(rate("kvm_network_receive_packets_total"), "{{instance}} {{device}}")],
                steps=[(t["storm_packets_per_second_floor"], "orange")],
            ),
            Panel(
                "Multicast",
                "Multicast packets received per second.",
                "pps",
                [(rate("kvm_network_receive_multicast_total"), "{{instance}} {{device}}")],
            ),
            Panel(
                "Softnet drops",
                "Packets dropped for a full CPU backlog, per second.",
                "pps",
                [(f"sum by (instance) ({rate('kvm_softnet_dropped_total')})", "{{instance}}")],
                steps=[(t["softnet_drops_per_second"], "orange")],
            ),
            Panel(
                "ICMP time exceeded",
                "Time-exceeded messages in and out per second (routing loops).",
                "pps",
                [
                    (rate("kvm_netstat_icmp_in_time_excds_total"), "{{instance}} in"),
                    (rate("kvm_netstat_icmp_out_time_excds_total"), "{{instance}} out"),
                ],
                steps=[(t["routing_loop_time_exceeded_per_second"], "orange")],
            ),
            Panel(
                "Conntrack fill",
                "Conntrack table use.",
                "percentunit",
                [
                    (
                        sel("kvm_nf_conntrack_entries")
                        + " / on (job, instance) "
                        + sel("kvm_nf_conntrack_entries_limit"),
                        "{{instance}}",
                    )
                ],
                steps=[(t["conntrack_fill_ratio"], "orange")],
            ),
        ],
    )


def iscsi_row() -> Row:
    """The iSCSI (iscsi_session) row."""
    return (
        "iSCSI (iscsi_session)",
        [
            Panel(
                "Sessions logged in",
                "1 where the session is LOGGED_IN.",
                "bool",
                [(sel("kvm_iscsi_session_logged_in"), "{{instance}} {{target}} sid {{sid}}")],
            ),
            Panel(
                "Expected logins",
                "Node records set to log in automatically: 1 logged in, 0 missing.",
                "bool",
                [(sel("kvm_iscsi_node_logged_in"), "{{instance}} {{target}} {{portal}}")],
            ),
            Panel(
                "iSCSI throughput",
                "Data bytes per second per session.",
                "Bps",
                [
                    (rate("kvm_iscsi_session_tx_data_bytes_total"), "{{instance}} {{target}} tx"),
                    (rate("kvm_iscsi_session_rx_data_bytes_total"), "{{instance}} {{target}} rx"),
                ],
            ),
        ],
    )


def zfs_and_md_raid_row(t: Thresholds) -> Row:
    """The ZFS and md RAID (zfs_pool, raid_degraded) row."""
    return (
        "ZFS and md RAID (zfs_pool, raid_degraded)",
        [
            Panel(
                "Pool state",
                "1 for each pool's current state.",
                "short",
                [(sel("kvm_zfs_pool_state") + " == 1", "{{instance}} {{pool}} {{state}}")],
                kind="table",
            ),
            Panel(
                "Pool capacity",
                "Share of each pool in use.",
                "percentunit",
                [(sel("kvm_zfs_pool_capacity_ratio"), "{{instance}} {{pool}}")],
                steps=[(t["zfs_capacity_ratio"], "orange")],
            ),
            Panel(
                "Vdev errors",
                "New read/write/checksum errors per vdev.",
                "short",
                [
                    (
                        f"sum by (instance, pool, vdev) ({increase('kvm_zfs_vdev_read_errors_total')} + "
                        f"{increase('kvm_zfs_vdev_write_errors_total')} + {increase('kvm_zfs_vdev_checksum_errors_total')})",
                        "{{instance}} {{pool}} {{vdev}}",
                    )
                ],
            ),
            Panel(
                "Last scrub",
                "Time since each pool's last finished scrub.",
                "s",
                [
                    (
                        "time() - " + sel("kvm_zfs_pool_last_scrub_end_time_seconds"),
                        "{{instance}} {{pool}}",
                    )
                ],
                steps=[(t["zfs_scrub_max_age_seconds"], "orange")],
            ),
            Panel(
                "ARC hit ratio",
                "Share of ARC reads served from memory.",
                "percentunit",
                [
                    (
                        f"{rate('kvm_zfs_arc_hits_total')} / on (job, instance) ({rate('kvm_zfs_arc_hits_total')} + "
                        f"{rate('kvm_zfs_arc_misses_total')})",
                        "{{instance}}",
                    )
                ],
            ),
            Panel(
                "md arrays degraded",
                "Disks missing per md array.",
                "short",
                [(sel("kvm_md_degraded"), "{{instance}} {{device}}")],
                steps=[(1, "red")],
            ),
            Panel(
                "md failed members and inactive arrays",
                "Failed member disks per md array, and arrays assembled but not started "
                "(MdRaidMemberFailed, MdRaidInactive).",
                "short",
                [
                    (sel("kvm_md_disks", 'state="failed"') + " > 0", "{{instance}} {{device}} failed"),
                    (sel("kvm_md_info", 'state="inactive"'), "{{instance}} {{device}} inactive"),
                ],
                steps=[(1, "red")],
                faults_only=True,
            ),
            Panel(
                "md sync progress",
                "Progress of recoveries, resyncs and checks.",
                "percentunit",
                [(sel("kvm_md_sync_progress_ratio"), "{{instance}} {{device}}")],
                faults_only=True,
            ),
        ],
    )


def storage_pools_row(t: Thresholds) -> Row:
    """The libvirt storage pools (virtual_disk) row."""
    return (
        "libvirt storage pools (virtual_disk)",
        [
            Panel(
                "Pool fill",
                "Allocation of each libvirt storage pool as a share of its capacity (as of the "
                "pool's last refresh); StoragePoolNearlyFull fires above the line.",
                "percentunit",
                [(f"{sel('kvm_storage_pool_allocation_bytes')} / {sel('kvm_storage_pool_capacity_bytes')}",
                  "{{instance}} {{pool}}")],
                steps=[(t["storage_pool_capacity_ratio"], "orange")],
            ),
            Panel(
                "Pools not running",
                "Defined pools that are not running (StoragePoolNotRunning).",
                "short",
                [(sel("kvm_storage_pool_state", 'state="running"') + " == 0", "{{instance}} {{pool}}")],
                faults_only=True,
            ),
        ],
    )


def capacity_row(t: Thresholds) -> Row:
    """The Capacity (overcommit) row."""
    return (
        "Capacity (overcommit)",
        [
            Panel(
                "vCPU allocation",
                "vCPUs of running VMs per host CPU thread.",
                "percentunit",
                [(sel("instance:kvm_host_cpu_allocation:ratio"), "{{instance}}")],
                steps=[(t["cpu_allocation_ratio"], "orange")],
            ),
            Panel(
                "Memory allocation",
                "Memory of running VMs per host memory.",
                "percentunit",
                [(sel("instance:kvm_host_memory_allocation:ratio"), "{{instance}}")],
                steps=[(t["memory_allocation_ratio"], "orange")],
            ),
            Panel(
                "Host CPU busy",
                "Share of CPU time not idle.",
                "percentunit",
                [(sel("instance:kvm_host_cpu_busy:ratio_rate5m"), "{{instance}}")],
                steps=[(t["host_cpu_busy_ratio"], "orange")],
            ),
            Panel(
                "Host memory available",
                "Memory available for new work.",
                "bytes",
                [(sel("kvm_host_meminfo_available_bytes"), "{{instance}}")],
            ),
        ],
    )


def ha_cluster_row() -> Row:
    """The HA cluster (cluster_quorum, ha_resource, replication_lag) row."""
    return (
        "HA cluster (cluster_quorum, ha_resource, replication_lag)",
        [
            Panel(
                "Quorum and votes",
                "Whether this node's corosync partition is quorate, with total and expected votes.",
                "short",
                [(sel("kvm_corosync_quorate"), "{{instance}} quorate"),
                 (sel("kvm_corosync_quorum_votes", 'type=~"total_votes|expected_votes"'), "{{instance}} {{type}}")],
            ),
            Panel(
                "Cluster nodes",
                "Each node's status flags as Pacemaker sees them (1: set).",
                "short",
                [(sel("kvm_pacemaker_node_status", 'status=~"online|standby|maintenance|unclean"') + " == 1",
                  "{{instance}} {{node}} {{status}}")],
                kind="table",
            ),
            Panel(
                "Resource failures",
                "Fail counts of the cluster's resources per node since their last cleanup, with the VM a "
                "VirtualDomain resource manages.",
                "short",
                [(sel("kvm_pacemaker_resource_failures") + " > 0", "{{instance}} {{resource}} on {{node}}")],
                faults_only=True,
            ),
            Panel(
                "Leftover bans and moves",
                "Location constraints that crm_resource --ban/--move left behind.",
                "short",
                [(sel("kvm_pacemaker_location_constraint", 'kind=~"cli-ban|cli-prefer"'),
                  "{{instance}} {{constraint}}")],
                kind="table",
                faults_only=True,
            ),
            Panel(
                "DRBD connections",
                "Each DRBD resource's connection state towards each peer (1: current).",
                "short",
                [(sel("kvm_drbd_connection_state") + " == 1", "{{instance}} {{resource}} -> {{peer}} {{state}}")],
                kind="table",
            ),
            Panel(
                "DRBD out of sync and in flight",
                "Data out of sync with each peer, and VM writes sent and not yet acknowledged.",
                "bytes",
                [(sel("kvm_drbd_peer_device_out_of_sync_bytes"), "{{instance}} {{resource}}/{{volume}} out of sync"),
                 (sel("kvm_drbd_connection_ap_in_flight_bytes"), "{{instance}} {{resource}} in flight")],
            ),
        ],
    )


def latency_row(t: Thresholds) -> Row:
    """The probes (network_latency) row."""
    return (
        "Latency and loss (network_latency)",
        [
            Panel(
                "RTT distribution",
                "Round-trip times of the probes to every target, as a heatmap of the histogram's buckets.",
                "s",
                [(f"sum by (le) ({increase('kvm_probe_rtt_seconds_bucket')})", "{{le}}")],
                kind="heatmap",
            ),
            Panel(
                "RTT p95 per target",
                "The 95th percentile of each target's round-trip time over 5 minutes.",
                "s",
                [(sel("instance_target:kvm_probe_rtt_seconds:p95_5m"),
                  "{{instance}} {{target}} ({{kind}})")],
                steps=[(t["probe_rtt_p95_seconds"], "orange")],
            ),
            Panel(
                "Loss per target",
                "Share of the probes lost over 5 minutes; NetworkProbeLossHigh fires above the threshold.",
                "percentunit",
                [(sel("instance_target:kvm_probe_loss:ratio5m"),
                  "{{instance}} {{target}} ({{kind}})")],
                steps=[(t["probe_loss_ratio"], "orange")],
            ),
        ],
    )


def build(t: Thresholds) -> dict[str, Any]:
    rows = [thermal_row(t), memory_ecc_row(), disks_smart_row(t), kernel_events_row(t), kvm_readiness_and_config_row(), links_and_redundancy_row(t), storm_signals_row(t), latency_row(t), iscsi_row(), zfs_and_md_raid_row(t), storage_pools_row(t), ha_cluster_row(), capacity_row(t)]
    return dashboard(
        "kvm-host",
        "KVM host",
        "One hypervisor: hardware, kernel events, KVM readiness, links, storage and capacity.",
        rows,
    )
