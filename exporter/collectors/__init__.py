"""Importing this package registers every collector (one module per collector family)."""

from exporter.collectors import edac, kvm, libvirt, process, smart, thermal

__all__ = ["edac", "kvm", "libvirt", "process", "smart", "thermal"]
