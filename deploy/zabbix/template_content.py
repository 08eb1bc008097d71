"""The Zabbix template's content: which series become items, what is discovered, and the
trigger that stands for each bundle alert Zabbix can evaluate. `PROMETHEUS_ONLY` names every
other alert and why (a test holds both lists to the bundle)."""

from __future__ import annotations

from typing import Any

from template_model import Discovery, Graph, Item, Template, Trigger

from exporter.libvirt.states import REASONS, STATES

DOMAIN_STATES = {"no state": 0, "running": 1, "blocked": 2, "paused": 3, "shutting down": 4,
                 "shut off": 5, "crashed": 6, "pmsuspended": 7}
ZFS_STATES = {"ONLINE": 0, "DEGRADED": 1, "FAULTED": 2, "OFFLINE": 3, "UNAVAIL": 4, "REMOVED": 5,
              "SUSPENDED": 6}
POOL_STATES = {"inactive": 0, "building": 1, "running": 2, "degraded": 3, "inaccessible": 4}
# libvirt's reason codes are per state: state * 100 + reason, from the exporter's own tables
STATE_REASONS = {f"{state}/{reason}": number * 100 + code for number, state in enumerate(STATES)
                 for code, reason in enumerate(REASONS.get(number, ("unknown",)))}
VALUE_MAPS: dict[str, dict[int, str]] = {
    "libvirt domain state": {code: name for name, code in DOMAIN_STATES.items()},
    "libvirt domain state and reason": {code: key.replace("/", ": ") for key, code in STATE_REASONS.items()},
    "ZFS pool state": {code: name for name, code in ZFS_STATES.items()},
    "libvirt storage pool state": {code: name for name, code in POOL_STATES.items()},
    "Link state": {0: "down", 1: "up"},
    "SMART health": {0: "FAILED", 1: "PASSED"},
    "Yes/No": {0: "no", 1: "yes"},
    "Success": {0: "failing", 1: "ok"},
}

def flag(name: str, title: str, family: str, **more: Any) -> Item:
    return Item(name=name, title=title, family=family, value_type="UNSIGNED", **more)


DOMAINS = Discovery(
    name="domain", title="Libvirt domains", family="kvm_domain_state_code", labels=("domain",),
    subject="VM {#DOMAIN}",
    items=(
        Item(name="state", title="state", family="kvm_domain_state_code", value_type="UNSIGNED",
             valuemap="libvirt domain state"),
        Item(name="reason", title="state reason", family="kvm_domain_state_info", value_filter="==1",
             output="label:reason", value_type="CHAR"),
        Item(name="state_reason", title="state and reason", family="kvm_domain_state_info", value_filter="==1",
             output="labels:state,reason", value_type="UNSIGNED", codes=STATE_REASONS,
             valuemap="libvirt domain state and reason",
             description="libvirt's state code x 100 + its reason code for that state (305: paused on an I/O error)."),
        flag("autostart_not_running", "autostart but not running", "kvm_domain_autostart_not_running",
             valuemap="Yes/No"),
        flag("config_drift", "definition on disk differs", "kvm_domain_config_drift", valuemap="Yes/No"),
        Item(name="cpu", title="CPU usage", family="kvm_domain_cpu_seconds_total", per_second=True,
             units="s"),
        Item(name="vcpu_delay", title="vCPU run-queue delay", family="kvm_domain_vcpu_delay_seconds_total",
             output="sum", per_second=True, units="s"),
        Item(name="vcpus", title="vCPUs", family="kvm_domain_vcpus_current", value_type="UNSIGNED"),
        Item(name="memory_current", title="memory (balloon)", family="kvm_domain_memory_current_bytes",
             units="B"),
        Item(name="memory_rss", title="QEMU resident memory", family="kvm_domain_memory_rss_bytes", units="B"),
        Item(name="memory_usable", title="guest usable memory", family="kvm_domain_memory_usable_bytes",
             units="B"),
        Item(name="memory_available", title="guest memory", family="kvm_domain_memory_available_bytes",
             units="B"),
        Item(name="memory_stats_updated", title="guest memory statistics last update",
             family="kvm_domain_memory_stats_last_update_timestamp_seconds", units="unixtime"),
        Item(name="newest_snapshot", title="newest snapshot",
             family="kvm_domain_newest_snapshot_timestamp_seconds", units="unixtime"),
    ),
    triggers=(
        Trigger(alert="VmCrashed",
                expression='last(@state)=6 or (last(@state)=5 and find(@reason,,"regexp","^(crashed|failed)$")=1)',
                note="Zabbix watches the state (crashed, or shut off after a crash or a failed start) and "
                     "resolves when the VM runs again; the Prometheus rule counts lifecycle events."),
        Trigger(alert="VmAutostartNotRunning", expression="min(@autostart_not_running,$for)=1"),
        Trigger(alert="VmPausedOnIoError",
                expression='min(@state,$for)=3 and find(@reason,,"eq","ioerror")=1'),
        Trigger(alert="VmPausedTooLong",
                expression='min(@state,$for)=3 and max(@state,$for)=3 and find(@reason,,"eq","ioerror")=0'),
        Trigger(alert="VmConfigDrift", expression="min(@config_drift,$for)=1"),
        Trigger(alert="VmCpuStealHigh",
                expression="last(@vcpus)>0 and min(@vcpu_delay,$for)/last(@vcpus)>$vm_vcpu_delay_ratio"),
        Trigger(alert="VmMemoryPressure",
                expression="last(@memory_available)>0 and"
                           " max(@memory_usable,$for)/last(@memory_available)<$vm_memory_usable_ratio"),
        Trigger(alert="VmGuestMemoryStatsMissing",
                expression="last(@state)=1 and last(@memory_stats_updated)>0"
                           " and now()-last(@memory_stats_updated)>$vm_memory_stats_stale_seconds"),
        Trigger(alert="VmRecoveryPointTooOld",
                expression="now()-last(@newest_snapshot)>$recovery_point_objective_seconds"),
    ),
    graphs=(Graph(name="CPU", items=("cpu", "vcpu_delay")),
            Graph(name="Memory", items=("memory_current", "memory_rss", "memory_usable"))),
)

DISKS = Discovery(
    name="disk", title="VM disks", family="kvm_domain_block_read_bytes_total", labels=("domain", "target"),
    subject="VM {#DOMAIN} disk {#TARGET}",
    items=(
        Item(name="read_bytes", title="read", family="kvm_domain_block_read_bytes_total", per_second=True,
             units="Bps"),
        Item(name="write_bytes", title="write", family="kvm_domain_block_write_bytes_total", per_second=True,
             units="Bps"),
        Item(name="read_ops", title="read operations", family="kvm_domain_block_read_requests_total",
             per_second=True, units="ops"),
        Item(name="write_ops", title="write operations", family="kvm_domain_block_write_requests_total",
             per_second=True, units="ops"),
        flag("image_present", "image present", "kvm_domain_disk_image_present", valuemap="Yes/No"),
        flag("error", "disk error", "kvm_domain_disk_error", output="count", missing="0"),
        flag("corrupt", "image corrupt (qemu-img check)", "kvm_domain_disk_check_status",
             matchers='status="corrupt"', missing="0", valuemap="Yes/No"),
    ),
    triggers=(
        Trigger(alert="VmDiskImageMissing", expression="max(@image_present,$for)=0"),
        Trigger(alert="VmDiskErrors", expression="last(@error)>0"),
        Trigger(alert="VmDiskImageCorrupt", expression="last(@corrupt)=1"),
    ),
    graphs=(Graph(name="throughput", items=("read_bytes", "write_bytes")),
            Graph(name="IOPS", items=("read_ops", "write_ops"))),
)

VNICS = Discovery(
    name="vnic", title="VM network interfaces", family="kvm_domain_interface_receive_bytes_total",
    labels=("domain", "target"), subject="VM {#DOMAIN} vNIC {#TARGET}",
    items=(
        Item(name="receive_bytes", title="received", family="kvm_domain_interface_receive_bytes_total",
             per_second=True, units="Bps"),
        Item(name="transmit_bytes", title="sent", family="kvm_domain_interface_transmit_bytes_total",
             per_second=True, units="Bps"),
        Item(name="receive_drops", title="receive drops", family="kvm_domain_interface_receive_drops_total",
             per_second=True, units="pps"),
        Item(name="transmit_drops", title="transmit drops", family="kvm_domain_interface_transmit_drops_total",
             per_second=True, units="pps"),
    ),
    graphs=(Graph(name="traffic", items=("receive_bytes", "transmit_bytes")),),
)

INTERFACES = Discovery(
    name="net", title="Network interfaces", family="kvm_network_info", labels=("device",),
    subject="interface {#DEVICE}", never={"device": "^lo$"},
    items=(
        Item(name="up", title="link", family="kvm_network_up", value_type="UNSIGNED", valuemap="Link state"),
        Item(name="receive_bytes", title="received", family="kvm_network_receive_bytes_total",
             per_second=True, units="Bps"),
        Item(name="transmit_bytes", title="sent", family="kvm_network_transmit_bytes_total",
             per_second=True, units="Bps"),
        Item(name="receive_packets", title="packets received", family="kvm_network_receive_packets_total",
             per_second=True, units="pps"),
    ),
    triggers=(
        Trigger(alert="TrafficStorm",
                expression="min(@receive_packets,$for)>$storm_packets_per_second_floor"
                           " and avg(@receive_packets,$for)>$storm_baseline_factor*avg(@receive_packets,1w)"),
    ),
    graphs=(Graph(name="traffic", items=("receive_bytes", "transmit_bytes")),),
)

UPLINKS = Discovery(
    name="link", title="Physical, bond and VLAN links", family="kvm_network_info", labels=("device",),
    subject="link {#DEVICE}", matchers='kind=~"physical|bond|vlan"',
    items=(
        Item(name="receive_errors", title="receive errors", family="kvm_network_receive_errs_total",
             per_second=True, units="pps"),
        Item(name="transmit_errors", title="transmit errors", family="kvm_network_transmit_errs_total",
             per_second=True, units="pps"),
        Item(name="carrier_changes", title="carrier changes", family="kvm_network_carrier_changes_total",
             value_type="UNSIGNED"),
    ),
    triggers=(
        Trigger(alert="NetworkInterfaceErrors",
                expression="min(@receive_errors,$for)+min(@transmit_errors,$for)>$nic_errors_per_second"),
        Trigger(alert="NetworkLinkFlapping",
                expression="max(@carrier_changes,15m)-min(@carrier_changes,15m)>$link_flaps_per_15m"),
    ),
)

BRIDGES = Discovery(
    name="bridge", title="Linux bridges", family="kvm_bridge_ports", labels=("bridge",),
    subject="bridge {#BRIDGE}",
    items=(
        Item(name="ports", title="ports", family="kvm_bridge_ports", value_type="UNSIGNED"),
        Item(name="ports_up", title="ports up", family="kvm_bridge_ports_up", value_type="UNSIGNED"),
        Item(name="uplink_up", title="uplink", family="kvm_bridge_uplink_up", value_type="UNSIGNED",
             valuemap="Link state"),
    ),
    triggers=(Trigger(alert="BridgeUplinkDown", expression="max(@uplink_up,$for)=0 and last(@ports)>0"),),
)

BONDS = Discovery(
    name="bond", title="Bonds", family="kvm_bond_slaves", labels=("bond",), subject="bond {#BOND}",
    items=(
        Item(name="slaves", title="slaves", family="kvm_bond_slaves", value_type="UNSIGNED"),
        Item(name="active_slaves", title="slaves up", family="kvm_bond_active_slaves", value_type="UNSIGNED"),
    ),
    triggers=(
        Trigger(alert="BondDegraded",
                expression="max(@active_slaves,$for)<last(@slaves) and last(@active_slaves)>0"),
        Trigger(alert="BondDown", expression="max(@active_slaves,$for)=0 and last(@slaves)>0"),
    ),
)

OVS = Discovery(
    name="ovs", title="Open vSwitch interfaces", family="kvm_ovs_interface_link_up",
    labels=("bridge", "port", "interface"), subject="OVS interface {#INTERFACE} on {#BRIDGE}",
    items=(
        Item(name="link_up", title="link", family="kvm_ovs_interface_link_up", value_type="UNSIGNED",
             valuemap="Link state"),
        Item(name="admin_up", title="admin state", family="kvm_ovs_interface_admin_up", value_type="UNSIGNED",
             valuemap="Link state"),
    ),
    triggers=(Trigger(alert="OvsInterfaceDown", expression="max(@link_up,$for)=0 and last(@admin_up)=1"),),
)

LIBVIRT_NETWORKS = Discovery(
    name="network", title="libvirt virtual networks", family="kvm_libvirt_network_active",
    labels=("network",), subject="network {#NETWORK}",
    items=(
        Item(name="active", title="active", family="kvm_libvirt_network_active", value_type="UNSIGNED",
             valuemap="Yes/No"),
        Item(name="autostart", title="autostart", family="kvm_libvirt_network_autostart",
             value_type="UNSIGNED", valuemap="Yes/No"),
    ),
    triggers=(Trigger(alert="LibvirtNetworkInactive", expression="max(@active,$for)=0 and last(@autostart)=1"),),
)

PROBES = Discovery(
    name="probe", title="Probe targets", family="kvm_probe_sent_total", labels=("target", "kind"),
    subject="target {#TARGET} ({#KIND})",
    items=(
        Item(name="sent", title="probes sent", family="kvm_probe_sent_total", value_type="UNSIGNED"),
        Item(name="received", title="probes answered", family="kvm_probe_received_total", value_type="UNSIGNED"),
        Item(name="last_rtt", title="last round-trip time", family="kvm_probe_last_rtt_seconds", units="s"),
    ),
    triggers=(
        Trigger(alert="NetworkProbeLossHigh",
                expression="max(@sent,5m)-min(@sent,5m)>0"
                           " and 1-(max(@received,5m)-min(@received,5m))/(max(@sent,5m)-min(@sent,5m))"
                           ">$probe_loss_ratio and max(@received,5m)>min(@received,5m)"),
        Trigger(alert="NetworkProbeTargetUnreachable",
                expression="max(@sent,$for)>min(@sent,$for) and max(@received,$for)=min(@received,$for)"),
        Trigger(alert="NetworkLatencyHigh",
                expression="avg(@last_rtt,$for)>$probe_rtt_p95_seconds"
                           " and avg(@last_rtt,$for)>$probe_baseline_factor*avg(@last_rtt,1w)",
                note="Zabbix compares the mean of the sampled last round-trip time; the Prometheus rule "
                     "the histogram's p95."),
    ),
    graphs=(Graph(name="round-trip time", items=("last_rtt",)),),
)

THERMAL = Discovery(
    name="thermal", title="Thermal zones", family="kvm_thermal_zone_temperature_celsius",
    labels=("zone", "type"), subject="thermal zone {#ZONE} ({#TYPE})",
    items=(
        Item(name="temperature", title="temperature", family="kvm_thermal_zone_temperature_celsius", units="°C"),
        Item(name="trip_hot", title="first passive/hot trip point (0: none)",
             family="kvm_thermal_zone_trip_point_celsius", matchers='trip_type=~"passive|hot"', output="min",
             units="°C", missing="0"),
        Item(name="trip_critical", title="critical trip point (0: none)", family="kvm_thermal_zone_trip_point_celsius",
             matchers='trip_type="critical"', output="min", units="°C", missing="0"),
    ),
    triggers=(
        Trigger(alert="HostThermalZoneHot",
                expression="(last(@trip_hot)>0 and min(@temperature,$for)>=last(@trip_hot))"
                           " or (last(@trip_hot)=0 and min(@temperature,$for)>=$temperature_warning_celsius)"),
        Trigger(alert="HostThermalZoneCritical",
                expression="(last(@trip_critical)>0 and min(@temperature,$for)>=last(@trip_critical)-5)"
                           " or (last(@trip_critical)=0 and min(@temperature,$for)>=$temperature_critical_celsius)"),
    ),
    graphs=(Graph(name="temperature", items=("temperature",)),),
)

SENSORS = Discovery(
    name="sensor", title="Hardware temperature sensors", family="kvm_hwmon_temperature_celsius",
    labels=("chip", "sensor"), subject="sensor {#SENSOR} of {#CHIP}",
    items=(
        Item(name="temperature", title="temperature", family="kvm_hwmon_temperature_celsius", units="°C"),
        Item(name="max", title="max (0: none)", family="kvm_hwmon_temperature_max_celsius", units="°C", missing="0"),
        Item(name="crit", title="crit (0: none)", family="kvm_hwmon_temperature_crit_celsius", units="°C", missing="0"),
    ),
    triggers=(
        Trigger(alert="HostSensorTemperatureHigh",
                expression="(last(@max)>0 and min(@temperature,$for)>=last(@max))"
                           " or (last(@max)=0 and min(@temperature,$for)>=$temperature_warning_celsius)"),
        Trigger(alert="HostSensorTemperatureCritical",
                expression="(last(@crit)>0 and min(@temperature,$for)>=last(@crit))"
                           " or (last(@crit)=0 and min(@temperature,$for)>=$temperature_critical_celsius)"),
    ),
)

MEMORY_CONTROLLERS = Discovery(
    name="edac", title="Memory controllers (EDAC)", family="kvm_edac_correctable_errors_total",
    labels=("controller",), subject="memory controller {#CONTROLLER}",
    items=(
        Item(name="correctable", title="correctable errors", family="kvm_edac_correctable_errors_total",
             value_type="UNSIGNED"),
        Item(name="uncorrectable", title="uncorrectable errors", family="kvm_edac_uncorrectable_errors_total",
             value_type="UNSIGNED"),
    ),
    triggers=(
        Trigger(alert="HostMemoryUncorrectableErrors",
                expression="max(@uncorrectable,10m)>min(@uncorrectable,10m)"),
        Trigger(alert="HostMemoryCorrectableErrorsHigh",
                expression="max(@correctable,1h)-min(@correctable,1h)>$ecc_correctable_per_hour"),
    ),
)

SMART = Discovery(
    name="smart", title="SMART devices", family="kvm_smart_device_up", labels=("device",),
    subject="disk {#DEVICE}",
    items=(
        Item(name="health", title="SMART health", family="kvm_smart_health_passed", value_type="UNSIGNED",
             valuemap="SMART health"),
        Item(name="temperature", title="temperature", family="kvm_smart_temperature_celsius", units="°C"),
        Item(name="temperature_trip", title="temperature limit (0: none reported)",
             family="kvm_smart_temperature_trip_celsius", units="°C", missing="0"),
        Item(name="nvme_critical_warning", title="NVMe critical warning",
             family="kvm_smart_nvme_critical_warning", value_type="UNSIGNED"),
        Item(name="nvme_spare", title="NVMe available spare", family="kvm_smart_nvme_available_spare_ratio"),
        Item(name="nvme_spare_threshold", title="NVMe spare threshold",
             family="kvm_smart_nvme_available_spare_threshold_ratio"),
        Item(name="nvme_used", title="NVMe endurance used", family="kvm_smart_nvme_percentage_used_ratio"),
        Item(name="nvme_media_errors", title="NVMe media errors", family="kvm_smart_nvme_media_errors_total",
             value_type="UNSIGNED"),
        Item(name="last_success", title="last read", family="kvm_smart_device_last_success_timestamp_seconds",
             units="unixtime"),
    ),
    triggers=(
        Trigger(alert="SmartDeviceFailing", expression="max(@health,$for)=0"),
        Trigger(alert="SmartNvmeCriticalWarning", expression="min(@nvme_critical_warning,$for)>0"),
        Trigger(alert="SmartTemperatureAboveDriveLimit",
                expression="last(@temperature_trip)>0 and min(@temperature,$for)>last(@temperature_trip)"),
        Trigger(alert="SmartNvmeWearHigh", expression="min(@nvme_used,$for)>$nvme_percentage_used_ratio"),
        Trigger(alert="SmartNvmeSpareLow", expression="max(@nvme_spare,$for)<last(@nvme_spare_threshold)"),
        Trigger(alert="SmartNvmeMediaErrorsGrowing",
                expression="max(@nvme_media_errors,1h)>min(@nvme_media_errors,1h)"),
        Trigger(alert="SmartDataStale", expression="now()-last(@last_success)>$smart_stale_seconds"),
    ),
    graphs=(Graph(name="temperature", items=("temperature",)),),
)

ZFS_POOLS = Discovery(
    name="zpool", title="ZFS pools", family="kvm_zfs_pool_capacity_ratio", labels=("pool",),
    subject="ZFS pool {#POOL}",
    items=(
        Item(name="state", title="state", family="kvm_zfs_pool_state", value_filter="==1", output="label:state",
             value_type="UNSIGNED", codes=ZFS_STATES, valuemap="ZFS pool state"),
        Item(name="capacity", title="capacity used", family="kvm_zfs_pool_capacity_ratio"),
        Item(name="last_scrub", title="last scrub ended", family="kvm_zfs_pool_last_scrub_end_time_seconds",
             units="unixtime"),
    ),
    triggers=(
        Trigger(alert="ZfsPoolNotOnline", expression="min(@state,$for)>0"),
        Trigger(alert="ZfsPoolCapacityHigh", expression="min(@capacity,$for)>$zfs_capacity_ratio"),
        Trigger(alert="ZfsScrubOverdue", expression="now()-last(@last_scrub)>$zfs_scrub_max_age_seconds"),
    ),
)

ZFS_DATASETS = Discovery(
    name="dataset", title="ZFS datasets with snapshots", family="kvm_zfs_dataset_newest_snapshot_timestamp_seconds",
    labels=("dataset",), subject="dataset {#DATASET}",
    items=(Item(name="newest_snapshot", title="newest snapshot",
                family="kvm_zfs_dataset_newest_snapshot_timestamp_seconds", units="unixtime"),),
    triggers=(Trigger(alert="ZfsDatasetRecoveryPointTooOld",
                      expression="now()-last(@newest_snapshot)>$recovery_point_objective_seconds"),),
)

STORAGE_POOLS = Discovery(
    name="pool", title="libvirt storage pools", family="kvm_storage_pool_state", labels=("pool",),
    subject="storage pool {#POOL}",
    items=(
        Item(name="state", title="state", family="kvm_storage_pool_state", value_filter="==1",
             output="label:state", value_type="UNSIGNED", codes=POOL_STATES, valuemap="libvirt storage pool state"),
        Item(name="capacity", title="capacity", family="kvm_storage_pool_capacity_bytes", units="B"),
        Item(name="allocation", title="allocated", family="kvm_storage_pool_allocation_bytes", units="B"),
    ),
    triggers=(
        Trigger(alert="StoragePoolNotRunning", expression=f"max(@state,$for)<>{POOL_STATES['running']}"),
        Trigger(alert="StoragePoolNearlyFull",
                expression="last(@capacity)>0 and min(@allocation,$for)/last(@capacity)>$storage_pool_capacity_ratio"),
    ),
)

MD_ARRAYS = Discovery(
    name="md", title="md RAID arrays", family="kvm_md_info", labels=("device",), subject="md array {#DEVICE}",
    items=(
        Item(name="degraded", title="disks missing", family="kvm_md_degraded", value_type="UNSIGNED"),
        Item(name="failed", title="failed members", family="kvm_md_disks", matchers='state="failed"',
             value_type="UNSIGNED", missing="0"),
        Item(name="state", title="state", family="kvm_md_info", output="label:state", value_type="CHAR"),
        Item(name="rebuilding", title="recovering or reshaping", family="kvm_md_sync_action",
             matchers='action=~"recovery|reshape"', value_filter="==1", output="count", value_type="UNSIGNED",
             missing="0", valuemap="Yes/No"),
        Item(name="sync_progress", title="sync progress", family="kvm_md_sync_progress_ratio"),
    ),
    triggers=(
        Trigger(alert="MdRaidDegraded", expression="min(@degraded,$for)>0"),
        Trigger(alert="MdRaidMemberFailed", expression="min(@failed,$for)>0"),
        Trigger(alert="MdRaidInactive", expression='find(@state,$for,"eq","inactive")=1'
                                                    ' and find(@state,$for,"ne","inactive")=0'),
        Trigger(alert="MdRaidRebuilding", expression="min(@rebuilding,$for)=1"),
    ),
)

ISCSI_SESSIONS = Discovery(
    name="iscsi_session", title="iSCSI sessions", family="kvm_iscsi_session_logged_in", labels=("sid", "target"),
    subject="iSCSI session {#SID} to {#TARGET}",
    items=(Item(name="logged_in", title="logged in", family="kvm_iscsi_session_logged_in", value_type="UNSIGNED",
                valuemap="Yes/No"),),
    triggers=(Trigger(alert="IscsiSessionNotLoggedIn", expression="max(@logged_in,$for)=0"),),
)

ISCSI_NODES = Discovery(
    name="iscsi_node", title="iSCSI node records (automatic login)", family="kvm_iscsi_node_logged_in",
    labels=("target", "portal", "iface"), subject="iSCSI target {#TARGET} at {#PORTAL}",
    items=(Item(name="logged_in", title="has a session", family="kvm_iscsi_node_logged_in", value_type="UNSIGNED",
                valuemap="Yes/No"),),
    triggers=(Trigger(alert="IscsiExpectedSessionMissing", expression="max(@logged_in,$for)=0"),),
)

ISCSI_DEVICES = Discovery(
    name="iscsi_device", title="iSCSI disks", family="kvm_iscsi_device_running", labels=("sid", "device"),
    subject="iSCSI disk {#DEVICE} (session {#SID})",
    items=(Item(name="running", title="running", family="kvm_iscsi_device_running", value_type="UNSIGNED",
                valuemap="Yes/No"),),
    triggers=(Trigger(alert="IscsiDeviceOffline", expression="max(@running,$for)=0"),),
)

CLUSTER_RESOURCES = Discovery(
    name="resource", title="Pacemaker resources", family="kvm_pacemaker_resource_info",
    labels=("resource", "agent", "domain"), subject="cluster resource {#RESOURCE}",
    items=(
        Item(name="failed", title="failed or blocked", family="kvm_pacemaker_resource_status",
             matchers='status=~"failed|blocked"', output="max", value_type="UNSIGNED", missing="0",
             valuemap="Yes/No"),
        Item(name="failures", title="fail count", family="kvm_pacemaker_resource_failures", output="sum",
             value_type="UNSIGNED", missing="0"),
        Item(name="started", title="instances started", family="kvm_pacemaker_resource_role",
             matchers='role=~"Started|Promoted|Master"', output="sum", value_type="UNSIGNED", missing="0"),
    ),
    triggers=(
        Trigger(alert="HaResourceFailed", expression="min(@failed,$for)=1"),
        Trigger(alert="HaResourceFailures", expression="last(@failures)>0"),
    ),
)

DRBD_CONNECTIONS = Discovery(
    name="drbd_connection", title="DRBD connections", family="kvm_drbd_connection_congested",
    labels=("resource", "peer"), subject="DRBD {#RESOURCE} to {#PEER}",
    items=(
        Item(name="state", title="connection state", family="kvm_drbd_connection_state", value_filter="==1",
             output="label:state", value_type="CHAR"),
        Item(name="congested", title="congested", family="kvm_drbd_connection_congested", value_type="UNSIGNED",
             valuemap="Yes/No"),
        Item(name="in_flight", title="writes in flight (DRBD 9)", family="kvm_drbd_connection_ap_in_flight_bytes",
             units="B", missing="0"),
        Item(name="out_of_sync", title="out of sync", family="kvm_drbd_peer_device_out_of_sync_bytes",
             output="sum", units="B", missing="0"),
    ),
    triggers=(
        Trigger(alert="DrbdDisconnected", expression='find(@state,$for,"eq","Connected")=0'),
        Trigger(alert="DrbdReplicationBehind",
                expression="min(@in_flight,$for)>$drbd_in_flight_bytes or min(@congested,$for)=1"),
        Trigger(alert="DrbdOutOfSync", expression="min(@out_of_sync,$for)>0"),
    ),
)

DRBD_VOLUMES = Discovery(
    name="drbd_volume", title="DRBD volumes", family="kvm_drbd_split_brain", labels=("resource", "volume"),
    subject="DRBD {#RESOURCE} volume {#VOLUME}",
    items=(Item(name="split_brain", title="split-brain", family="kvm_drbd_split_brain", value_type="UNSIGNED",
                valuemap="Yes/No"),),
    triggers=(Trigger(alert="DrbdSplitBrain", expression="last(@split_brain)=1"),),
)

KVM_CHECKS = Discovery(
    name="kvm_check", title="KVM prerequisites", family="kvm_host_kvm_check", labels=("check",),
    subject="KVM prerequisite {#CHECK}", never={"check": "^vhost_net$"},
    items=(Item(name="ok", title="holds", family="kvm_host_kvm_check", value_type="UNSIGNED", valuemap="Yes/No"),
           Item(name="reason", title="reason", family="kvm_host_kvm_check", output="label:reason",
                value_type="CHAR")),
    triggers=(Trigger(alert="KvmPrerequisiteMissing", expression="max(@ok,$for)=0"),),
)

CONFIG_FILES = Discovery(
    name="config_file", title="libvirt configuration files", family="kvm_libvirt_config_file_valid",
    labels=("path",), subject="libvirt file {#PATH}",
    items=(Item(name="valid", title="parses", family="kvm_libvirt_config_file_valid", value_type="UNSIGNED",
                valuemap="Yes/No"),),
    triggers=(Trigger(alert="LibvirtConfigCorrupt", expression="max(@valid,$for)=0"),),
)

COLLECTORS = Discovery(
    name="collector", title="Exporter collectors", family="kvm_scrape_collector_success", labels=("collector",),
    subject="collector {#COLLECTOR}",
    items=(
        Item(name="success", title="succeeded", family="kvm_scrape_collector_success", value_type="UNSIGNED",
             valuemap="Success"),
        Item(name="duration", title="duration", family="kvm_scrape_collector_duration_seconds", units="s"),
    ),
    triggers=(Trigger(alert="KvmExporterCollectorFailing", expression="max(@success,$for)=0"),),
)

POLLERS = Discovery(
    name="poller", title="Background pollers", family="kvm_poller_up", labels=("poller",),
    subject="poller {#POLLER}",
    items=(Item(name="up", title="last round succeeded", family="kvm_poller_up", value_type="UNSIGNED",
                valuemap="Success"),),
    triggers=(Trigger(alert="BackgroundCommandFailing", expression="max(@up,$for)=0"),),
)


def vms_in(state: str) -> Item:
    return Item(name=f"vms_{state.replace(' ', '_')}", title=f"VMs {state}", family="kvm_domain_state_code",
                value_filter=f"=={DOMAIN_STATES[state]}", output="count", value_type="UNSIGNED", missing="0")


HOST_ITEMS = (
    Item(name="build", title="exporter version", family="kvm_exporter_build_info", output="label:version",
         value_type="CHAR"),
    Item(name="up", title="exporter answers", family="kvm_exporter_build_info", value_type="UNSIGNED",
         description="1 while the exporter's /metrics answers: the exporter-down trigger watches it."),
    Item(name="libvirt_up", title="libvirt answers", family="kvm_libvirt_up", value_type="UNSIGNED",
         valuemap="Yes/No"),
    Item(name="vhost_net", title="vhost-net available", family="kvm_host_kvm_check", matchers='check="vhost_net"',
         value_type="UNSIGNED", valuemap="Yes/No"),
    *(vms_in(state) for state in ("running", "paused", "shut off", "crashed")),
    Item(name="cpus", title="host CPUs", family="kvm_host_cpus", value_type="UNSIGNED"),
    Item(name="cpu_idle", title="host CPU idle", family="kvm_host_cpu_seconds_total",
         matchers='mode=~"idle|iowait"', output="sum", per_second=True, units="s"),
    Item(name="cpu_total", title="host CPU time", family="kvm_host_cpu_seconds_total", output="sum",
         per_second=True, units="s"),
    Item(name="vcpus_active", title="vCPUs of running VMs", family="kvm_host_allocated_vcpus",
         matchers='scope="active"', value_type="UNSIGNED"),
    Item(name="memory", title="host memory", family="kvm_host_memory_bytes", units="B"),
    Item(name="memory_active", title="memory of running VMs", family="kvm_host_allocated_memory_bytes",
         matchers='scope="active"', units="B"),
    Item(name="memory_pressure", title="memory pressure (full)", family="kvm_host_pressure_full_seconds_total",
         matchers='resource="memory"', per_second=True, units="s"),
    Item(name="oom_kills", title="OOM kills", family="kvm_host_oom_kills_total", value_type="UNSIGNED"),
    Item(name="vm_oom_kills", title="OOM kills of VMs", family="kvm_kernel_oom_kills_total",
         matchers='domain!=""', output="sum", value_type="UNSIGNED", missing="0"),
    Item(name="throttles", title="thermal throttling events", family="kvm_cpu_package_throttles_total",
         output="sum", value_type="UNSIGNED"),
    Item(name="hardware_errors", title="machine-check / EDAC errors logged", family="kvm_kernel_hardware_errors_total",
         output="sum", value_type="UNSIGNED", missing="0"),
    Item(name="iscsi_connection_errors", title="iSCSI connection errors logged",
         family="kvm_kernel_iscsi_connection_errors_total", output="sum", value_type="UNSIGNED", missing="0"),
    Item(name="icmp_time_exceeded", title="ICMP time exceeded (in + out)", family="kvm_netstat_icmp_in_time_excds_total",
         per_second=True),
    Item(name="icmp_time_exceeded_out", title="ICMP time exceeded sent", family="kvm_netstat_icmp_out_time_excds_total",
         per_second=True),
    Item(name="softnet_drops", title="softnet drops", family="kvm_softnet_dropped_total", output="sum",
         per_second=True, units="pps"),
    Item(name="conntrack", title="conntrack entries", family="kvm_nf_conntrack_entries", value_type="UNSIGNED"),
    Item(name="conntrack_limit", title="conntrack limit", family="kvm_nf_conntrack_entries_limit",
         value_type="UNSIGNED"),
    Item(name="corosync_up", title="corosync answers", family="kvm_corosync_up", value_type="UNSIGNED",
         valuemap="Yes/No"),
    Item(name="pacemaker_up", title="Pacemaker answers", family="kvm_pacemaker_up", value_type="UNSIGNED",
         valuemap="Yes/No"),
    Item(name="quorate", title="cluster quorate", family="kvm_corosync_quorate", value_type="UNSIGNED",
         valuemap="Yes/No"),
    Item(name="links_down", title="corosync links or rings down", family="kvm_corosync_link_connected",
         value_filter="==0", output="count", value_type="UNSIGNED", missing="0"),
    Item(name="unclean_nodes", title="UNCLEAN cluster nodes", family="kvm_pacemaker_node_status",
         matchers='status="unclean"', value_filter="==1", output="count", value_type="UNSIGNED", missing="0"),
    Item(name="stonith", title="STONITH enabled", family="kvm_pacemaker_stonith_enabled", value_type="UNSIGNED",
         valuemap="Yes/No"),
    Item(name="cluster_nodes", title="cluster nodes configured", family="kvm_pacemaker_nodes_configured",
         value_type="UNSIGNED"),
    Item(name="maintenance", title="cluster maintenance mode", family="kvm_pacemaker_maintenance_mode",
         value_type="UNSIGNED", valuemap="Yes/No"),
    Item(name="leftover_constraints", title="ban/move constraints left behind",
         family="kvm_pacemaker_location_constraint", matchers='kind=~"cli-ban|cli-prefer"', output="count",
         value_type="UNSIGNED", missing="0"),
)

HOST_TRIGGERS = (
    Trigger(alert="LibvirtDown", expression="max(@libvirt_up,$for)=0"),
    Trigger(alert="VhostNetMissing", expression="max(@vhost_net,$for)=0"),
    Trigger(alert="HostOomKills", expression="max(@oom_kills,15m)>min(@oom_kills,15m)"),
    Trigger(alert="VmOomKilled", expression="max(@vm_oom_kills,15m)>min(@vm_oom_kills,15m)"),
    Trigger(alert="HostCpuThrottling", expression="max(@throttles,10m)>min(@throttles,10m)"),
    Trigger(alert="HostMachineCheckErrors", expression="max(@hardware_errors,30m)>min(@hardware_errors,30m)"),
    Trigger(alert="IscsiConnectionErrors",
            expression="max(@iscsi_connection_errors,15m)>min(@iscsi_connection_errors,15m)"),
    Trigger(alert="RoutingLoopSuspected",
            expression="min(@icmp_time_exceeded,$for)+min(@icmp_time_exceeded_out,$for)"
                       ">$routing_loop_time_exceeded_per_second"),
    Trigger(alert="SoftnetDrops", expression="min(@softnet_drops,$for)>$softnet_drops_per_second"),
    Trigger(alert="ConntrackTableFilling",
            expression="last(@conntrack_limit)>0 and min(@conntrack,$for)/last(@conntrack_limit)>$conntrack_fill_ratio"),
    Trigger(alert="HostCpuOvercommitted",
            expression="last(@cpus)>0 and min(@vcpus_active,$for)/last(@cpus)>$cpu_allocation_ratio"),
    Trigger(alert="HostMemoryOvercommitted",
            expression="last(@memory)>0 and min(@memory_active,$for)/last(@memory)>$memory_allocation_ratio"),
    Trigger(alert="HostCpuSaturated",
            expression="avg(@cpu_total,$for)>0 and 1-avg(@cpu_idle,$for)/avg(@cpu_total,$for)>$host_cpu_busy_ratio"),
    Trigger(alert="HostMemoryPressure", expression="min(@memory_pressure,$for)>$memory_pressure_full_ratio"),
    Trigger(alert="ClusterQuorumLost", expression="max(@quorate,$for)=0"),
    Trigger(alert="ClusterStackDown", expression="max(@pacemaker_up,$for)=0 or max(@corosync_up,$for)=0"),
    Trigger(alert="ClusterNodeUnclean", expression="min(@unclean_nodes,$for)>0"),
    Trigger(alert="ClusterLinkDown", expression="min(@links_down,$for)>0"),
    Trigger(alert="ClusterStonithDisabled", expression="max(@stonith,$for)=0 and last(@cluster_nodes)>1"),
    Trigger(alert="ClusterMaintenanceMode", expression="min(@maintenance,$for)=1"),
    Trigger(alert="HaResourceBanLeftover", expression="min(@leftover_constraints,$for)>0"),
)

EXPORTER = Template(
    name="KVM by kvm-exporter",
    title="KVM hypervisor by kvm-exporter",
    description="kvm-exporter's metrics as items, discovery and triggers: one HTTP agent item scrapes "
                "/metrics, every other item is a dependent item with Prometheus preprocessing. Triggers "
                "stand for the alerting bundle's alerts fault for fault (tags layer, fault, alertname) and "
                "depend on the exporter-down trigger. Generated by deploy/zabbix/generate.py from "
                "alerts/bundle and alerts/config.yml: do not edit.",
    connection="KVM.EXPORTER", keys="kvm", default_port=9978, down_alert="KvmExporterDown",
    items=HOST_ITEMS, triggers=HOST_TRIGGERS,
    discoveries=(DOMAINS, DISKS, VNICS, INTERFACES, UPLINKS, BRIDGES, BONDS, OVS, LIBVIRT_NETWORKS, PROBES,
                 THERMAL, SENSORS, MEMORY_CONTROLLERS, SMART, ZFS_POOLS, ZFS_DATASETS, STORAGE_POOLS,
                 MD_ARRAYS, ISCSI_SESSIONS, ISCSI_NODES, ISCSI_DEVICES, CLUSTER_RESOURCES, DRBD_CONNECTIONS,
                 DRBD_VOLUMES, KVM_CHECKS, CONFIG_FILES, COLLECTORS, POLLERS),
    graphs=(Graph(name="VMs by state", items=("vms_running", "vms_paused", "vms_shut_off", "vms_crashed"),
                  kind="STACKED"),
            Graph(name="Host CPU", items=("cpu_total", "cpu_idle"))),
)

REMEDIATOR = Template(
    name="kvm-remediator by HTTP",
    title="kvm-remediator (self-healing) by HTTP",
    description="kvm-remediator's actions and circuit breakers. Generated by deploy/zabbix/generate.py: "
                "do not edit.",
    connection="KVM.REMEDIATOR", keys="kvm.remediator", default_port=9979, down_alert="KvmRemediatorDown",
    items=(
        Item(name="up", title="remediator answers", family="kvm_remediator_build_info",
             value_type="UNSIGNED", description="1 while the remediator's /metrics answers."),
        Item(name="failed_actions", title="failed actions", family="kvm_remediator_actions_total",
             matchers='result="failed"', output="sum", value_type="UNSIGNED", missing="0"),
        Item(name="circuits_open", title="circuit breakers open", family="kvm_remediator_circuit_breaker_open",
             value_filter="==1", output="count", value_type="UNSIGNED", missing="0"),
    ),
    triggers=(
        Trigger(alert="KvmRemediationFailing", expression="max(@failed_actions,15m)>min(@failed_actions,15m)"),
        Trigger(alert="KvmRemediatorCircuitOpen", expression="last(@circuits_open)>0"),
    ),
)

TEMPLATES = (EXPORTER, REMEDIATOR)

PROMETHEUS_ONLY = {
    "SmartBadSectorsGrowing": "a delta over a day of three counters per disk; the SMART items show them",
    "VmQemuLogErrors": "counters born with the first error, one series per error kind",
    "VmDiskLatencyHigh": "a ratio of two rates that is undefined while a disk is idle",
    "VmCrashLoop": "counts crashes over a day from event counters born with the first crash",
    "VmMigrationStuck": "migration jobs come and go within minutes, faster than discovery",
    "VmMigrationTooSlow": "migration jobs come and go within minutes, faster than discovery",
    "VmAvailabilityBudgetBurningFast": "SLO burn rates over recording rules of up to 30 days",
    "VmAvailabilityBudgetBurningSlow": "SLO burn rates over recording rules of up to 30 days",
    "VmNetworkCutOff": "a join of vNICs onto bridges; BridgeUplinkDown names the bridge",
    "ZfsVdevErrorsGrowing": "per-vdev counters of three kinds; the pool state trigger fires on faults",
    "ZfsAutotrimOff": "depends on a pool-name matcher for SSD pools (ssd_pool_matcher)",
    "ZfsWriteAmplificationHigh": "a ratio of rates over an hour across datasets and pools",
    "HaResourceMigrationThresholdReached": "compares fail count and threshold per resource and node",
    "KvmRemediationMttrHigh": "a fleet-wide mean over a day, across remediators",
    "KvmSelfHealRatioLow": "a fleet-wide ratio over a day, across remediators",
}
