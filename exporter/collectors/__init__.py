"""Importing this package registers every collector (one module per collector family)."""

from exporter.collectors import (
    config,
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
    process,
    qemu,
    smart,
    storage,
    thermal,
    zfs,
)

__all__ = [
    "config", "edac", "guest_agent", "host", "iscsi", "kernel", "kvm", "libvirt", "libvirt_networks",
    "mdraid", "network", "ovs", "process", "qemu", "smart", "storage", "thermal", "zfs",
]
