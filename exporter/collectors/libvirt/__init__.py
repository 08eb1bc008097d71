"""The libvirt collector (faults domain_failure, overcommit, kmod_failure): domain state,
CPU, memory, disks, vNICs, jobs; host and inventory."""

from __future__ import annotations

from exporter.collector import CollectorError, SingleFlight, register
from exporter.collectors.libvirt.families import build_families
from exporter.libvirt.snapshot import LibvirtSnapshot
from exporter.libvirt.source import LibvirtSource
from exporter.metrics import Family
from exporter.options import Option, positive_int
from exporter.settings import Settings
from exporter.shared import Shared


class LibvirtCollector:
    name = "libvirt"

    def __init__(self, source: LibvirtSource) -> None:
        self.source = source
        self._flight: SingleFlight[LibvirtSnapshot] = SingleFlight(source.fetch)

    async def collect(self) -> list[Family]:
        snapshot = await self._flight.run()
        families = build_families(snapshot)
        if not snapshot.up:
            raise CollectorError(f"libvirt unreachable: {snapshot.error}", families)
        return families

    def timed_out_families(self) -> list[Family]:
        return build_families(LibvirtSnapshot(up=False, error="timeout"))

    async def close(self) -> None:
        await self.source.close()


PARALLEL_CALLS = Option("libvirt.parallel-calls", 4, "Bulk stats calls issued in parallel, each on a "
                        "share of the domains.", parse=positive_int)


@register("libvirt", default_enabled=True, options=[PARALLEL_CALLS],
          description="libvirt domains (state, CPU, memory, disks, vNICs, jobs) and host inventory")
def create(settings: Settings, shared: Shared) -> LibvirtCollector:
    return LibvirtCollector(LibvirtSource(shared.libvirt, PARALLEL_CALLS.of(settings)))
