"""The validated configuration the application is built from."""

from __future__ import annotations

from dataclasses import dataclass, field

from exporter.webconfig import WebConfig

DEFAULT_PORT = 9978
DEFAULT_LISTEN_ADDRESS = f":{DEFAULT_PORT}"


@dataclass(frozen=True)
class Settings:
    listen_address: str = DEFAULT_LISTEN_ADDRESS
    telemetry_path: str = "/metrics"
    web_config: WebConfig = field(default_factory=WebConfig)
    max_connections: int = 256
    libvirt_uri: str = "qemu:///system"
    path_sysfs: str = "/sys"
    path_procfs: str = "/proc"
    path_rootfs: str = "/"
    kmsg_path: str = "/dev/kmsg"
    libvirt_run_dir: str = "/run/libvirt/qemu"
    qemu_log_dir: str = "/var/log/libvirt/qemu"
    libvirt_config_dir: str = "/etc/libvirt"
    smartctl_path: str = "smartctl"
    smartctl_interval: float = 60.0
    smartctl_timeout: float = 30.0
    smartctl_nocheck: str = "standby"
    smartctl_devices: tuple[str, ...] = ()
    smartctl_device_include: str = ""
    smartctl_device_exclude: str = ""
    libvirt_parallel_calls: int = 4
    network_device_include: str = ""
    network_device_exclude: str = ""
    network_ethtool: bool = True
    libvirt_snapshot_interval: float = 60.0
    vdisk_qemu_img_path: str = "qemu-img"
    vdisk_check_interval: float = 3600.0
    vdisk_check_timeout: float = 300.0
    iscsi_iscsiadm_path: str = "iscsiadm"
    iscsi_nodes_dir: str = "/etc/iscsi/nodes"
    iscsi_interval: float = 30.0
    iscsi_timeout: float = 10.0
    zfs_zpool_path: str = "zpool"
    zfs_zfs_path: str = "zfs"
    zfs_interval: float = 60.0
    zfs_timeout: float = 30.0
    zfs_snapshot_dataset_include: str = ""
    ovs_vsctl_path: str = "ovs-vsctl"
    ovs_db: str = ""
    ovs_interval: float = 30.0
    ovs_timeout: float = 10.0
    collector_timeout: float = 8.0
    collectors: frozenset[str] = frozenset()
    log_level: str = "info"
    log_format: str = "logfmt"
