"""Importing this package registers every collector (one module per collector family)."""

from exporter.collectors import (
    config,
    corosync,
    drbd,
    edac,
    guest_agent,
    host,
    iscsi,
    kernel,
    kvm,
    libvirt,
    libvirt_networks,
    mdraid,
    network,
    ovs,
    pacemaker,
    probe,
    process,
    qemu,
    smart,
    storage,
    thermal,
    zfs,
)

__all__ = [
    "config", "corosync", "drbd", "edac", "guest_agent", "host", "iscsi", "kernel", "kvm", "libvirt",
    "libvirt_networks", "mdraid", "network", "ovs", "pacemaker", "probe", "process", "qemu", "smart",
    "storage", "thermal", "zfs",
]
