"""The libvirt collector (faults domain_failure, vm_health, overcommit, kmod_failure): domain state,
CPU, memory, disks, vNICs, jobs; host and inventory."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from exporter.collector import CollectorError, SingleFlight, register
from exporter.collectors.libvirt.families import build_families
from exporter.collectors.libvirt.plans import StatsPlans
from exporter.libvirt.snapshot import LibvirtSnapshot
from exporter.libvirt.source import (
    DEFAULT_GROUPS,
    OPTIONAL_GROUPS,
    STATS_GROUPS,
    HostView,
    LibvirtSource,
    parse_stats_groups,
)
from exporter.metrics import Family
from exporter.options import Option, duration, positive_int, regex
from exporter.settings import Settings
from exporter.shared import Shared


class LibvirtCollector:
    name = "libvirt"

    def __init__(self, source: LibvirtSource) -> None:
        self.source = source
        self._flight: SingleFlight[LibvirtSnapshot] = SingleFlight(source.fetch)
        self._plans = StatsPlans()

    async def collect(self) -> list[Family]:
        snapshot = await self._flight.run()
        families = build_families(snapshot, self._plans)
        if not snapshot.up:
            raise CollectorError(f"libvirt unreachable: {snapshot.error}", families)
        return families

    def timed_out_families(self) -> list[Family]:
        return build_families(LibvirtSnapshot(up=False, error="timeout"))

    async def close(self) -> None:
        await self.source.close()


PARALLEL_CALLS = Option("libvirt.parallel-calls", 4, "Bulk stats calls issued in parallel, each on a "
                        "share of the domains.", parse=positive_int)
STATS_GROUPS_OPTION = Option("libvirt.stats-groups", DEFAULT_GROUPS, "Stats groups to read, a comma list "
                             f"of {', '.join(STATS_GROUPS)} (state is always read; "
                             f"{', '.join(OPTIONAL_GROUPS)} only when listed).",
                             parse=parse_stats_groups, shown=",".join(DEFAULT_GROUPS))
SLOW_INTERVAL = Option("libvirt.slow-interval", 60.0, "How often KVM's per-vCPU statistics, and the "
                       "memory statistics of guests without a stats period, are read in the background.",
                       parse=duration, shown="60s")
DOMAIN_INCLUDE = Option("libvirt.domain-include", "", "Only domains whose name matches this regular "
                        "expression get per-domain series.", parse=regex)
DOMAIN_EXCLUDE = Option("libvirt.domain-exclude", "", "Domains whose name matches this regular "
                        "expression get no per-domain series.", parse=regex)


def domain_filter(settings: Settings) -> Callable[[str], bool]:
    include, exclude = DOMAIN_INCLUDE.of(settings), DOMAIN_EXCLUDE.of(settings)
    included = re.compile(include).search if include else None
    excluded = re.compile(exclude).search if exclude else None
    return lambda name: (included is None or bool(included(name))) and not (excluded and excluded(name))


@register("libvirt", default_enabled=True,
          options=[PARALLEL_CALLS, STATS_GROUPS_OPTION, SLOW_INTERVAL, DOMAIN_INCLUDE, DOMAIN_EXCLUDE],
          description="libvirt domains (state, CPU, memory, disks, vNICs, jobs) and host inventory")
def create(settings: Settings, shared: Shared) -> LibvirtCollector:
    # the stats calls get 60% of the collector's time: what is late then is served stale
    source = LibvirtSource(shared.libvirt, PARALLEL_CALLS.of(settings), STATS_GROUPS_OPTION.of(settings),
                           domain_filter(settings), budget=settings.collector_timeout * 0.6,
                           slow_interval=SLOW_INTERVAL.of(settings),
                           host=HostView(shared.running_domains, Path(settings.path_procfs),
                                         Path(settings.path_sysfs)))
    return LibvirtCollector(source)
