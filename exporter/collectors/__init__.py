"""Importing this package registers every collector (one module per collector family)."""

from exporter.collectors import libvirt, process

__all__ = ["libvirt", "process"]
