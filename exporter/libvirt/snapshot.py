"""Plain data fetched from libvirt in one collection; everything downstream is pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from exporter.libvirt.domxml import DomainXMLInfo


@dataclass(slots=True)
class DomainRecord:
    name: str
    uuid: str
    stats: dict[str, Any]
    autostart: bool = False
    persistent: bool = True
    xml: DomainXMLInfo | None = None
    job: dict[str, Any] | None = None
    disk_errors: dict[str, int] | None = None
    stale: str = ""  # why this record is the last known one, not fresh ("": fresh)
    ages: dict[str, float] = field(default_factory=dict)  # slow group -> seconds since its read


@dataclass(frozen=True, slots=True)
class HostInfo:
    model: str
    cpus: int
    mhz: int
    numa_nodes: int
    sockets: int
    cores: int
    threads: int
    memory_bytes: int
    free_memory_bytes: int | None
    libvirt_version: str
    hypervisor: str
    hypervisor_version: str
    kvm_usable: bool | None = None


@dataclass(slots=True)
class LibvirtSnapshot:
    up: bool
    host: HostInfo | None = None
    domains: list[DomainRecord] = field(default_factory=list)
    error: str = ""
    # (domain, event, detail) -> count of libvirt lifecycle events since the exporter started
    lifecycle_events: dict[tuple[str, str, str], int] = field(default_factory=dict)
    # (domain, reason) -> per-domain failures since the exporter started (timeout, busy, error codes)
    domain_errors: dict[tuple[str, str], int] = field(default_factory=dict)
    # libvirt domain event name -> events received since the exporter started
    event_counts: dict[str, int] = field(default_factory=dict)
    # the stats groups read (--libvirt.stats-groups); None: unknown, build every family
    groups: frozenset[str] | None = None


def version_string(packed: int) -> str:
    """libvirt packs versions as major * 1,000,000 + minor * 1,000 + release."""
    return f"{packed // 1_000_000}.{packed // 1000 % 1000}.{packed % 1000}"
