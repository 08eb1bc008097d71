"""Importing this package registers every collector (one module per collector family)."""

from exporter.collectors import (
    config,
    edac,
    host,
    kernel,
    kvm,
    libvirt,
    network,
    ovs,
    process,
    qemu,
    smart,
    thermal,
)

__all__ = [
    "config", "edac", "host", "kernel", "kvm", "libvirt", "network", "ovs", "process", "qemu", "smart",
    "thermal",
]
