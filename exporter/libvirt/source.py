"""Fetches a LibvirtSnapshot with a few bulk calls, in worker threads.

Per collection: one inventory call batch (domain list, autostart and persistent sets, node
info), then `virDomainListGetStats` over the domains split into `parallel` shares, issued
at once from that many threads on the same connection (libvirtd serves them on separate
workers; the shares are disjoint, so the calls never wait on each other's domain jobs).
The fresh groups of every scrape are state, interface and block; per-vCPU times and delays
come from /proc (`vcpus.py`); guest memory statistics and KVM's vCPU counters are read in
the background at their source's cadence (`slow.py`), or with the scrape's call for a
domain that has none yet. Per-domain calls are made only where they are cheaper than the
bulk group or no bulk call exists, and only for the domains that need them: CPU times and
job stats for active domains, disk errors for paused ones, and the XML of a domain when it
is new, restarted, hot-plugged or announced by a libvirt event.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import libvirt

from exporter.libvirt.capabilities import kvm_usable
from exporter.libvirt.cgroups import DomainCpu
from exporter.libvirt.connection import error_reason, is_connection_error, is_missing_domain
from exporter.libvirt.shared import XML_MAX_AGE, SharedLibvirt
from exporter.libvirt.slow import SLOW_GROUPS, SlowStats
from exporter.libvirt.snapshot import DomainRecord, HostInfo, LibvirtSnapshot, version_string
from exporter.libvirt.states import ACTIVE_STATES, PAUSED, event_detail_name, event_name
from exporter.libvirt.vcpus import VcpuThreads
from exporter.threads import DaemonThreadPool

log = logging.getLogger(__name__)

# The groups read in every scrape's bulk call. No cpu-total group: in QEMU it costs a
# monitor round trip per domain (query-stats for halt-polling time), while
# virDomainGetCPUStats reads the same cgroup counters without one (benchmarks/call_costs.py).
FRESH_GROUPS = {
    "interface": libvirt.VIR_DOMAIN_STATS_INTERFACE,
    "block": libvirt.VIR_DOMAIN_STATS_BLOCK,
    # Off unless asked for (benchmarks/call_costs.py): iothread and dirtyrate cost a QEMU
    # monitor round trip per domain (~0.55 ms each here); perf (events `virsh perf
    # --enable` turned on) and memory (resctrl bandwidth monitors) are read by libvirtd.
    "perf": libvirt.VIR_DOMAIN_STATS_PERF,
    "iothread": libvirt.VIR_DOMAIN_STATS_IOTHREAD,
    "memory": libvirt.VIR_DOMAIN_STATS_MEMORY,
    "dirtyrate": libvirt.VIR_DOMAIN_STATS_DIRTYRATE,
}
OPTIONAL_GROUPS = ("perf", "iothread", "memory", "dirtyrate")
# balloon and vcpu are slow groups (slow.py); "cpu" (virDomainGetCPUStats) and "job"
# (jobStats) are per-domain calls of active domains.
STATS_GROUPS = ("balloon", "vcpu", *FRESH_GROUPS, "cpu", "job")
DEFAULT_GROUPS = tuple(g for g in STATS_GROUPS if g not in OPTIONAL_GROUPS)
SUSPECT_AFTER = 1.0  # seconds a call may run before its domains are suspects
SLOW_TICK = 1.0  # seconds between looks at what is due in the background


def parse_stats_groups(text: str) -> tuple[str, ...]:
    """`--libvirt.stats-groups`: a comma list of STATS_GROUPS (state is always read)."""
    groups = tuple(g.strip() for g in text.split(",") if g.strip())
    unknown = [g for g in groups if g not in STATS_GROUPS]
    if unknown or not groups:
        raise ValueError(f"not a stats group: {', '.join(unknown) or repr(text)} "
                         f"(choose from {', '.join(STATS_GROUPS)})")
    return groups


def fresh_flags(groups: frozenset[str]) -> int:
    flags = int(libvirt.VIR_DOMAIN_STATS_STATE)
    for group in groups:
        flags |= int(FRESH_GROUPS.get(group, 0))
    return flags


def is_local(uri: str) -> bool:
    """Whether the domains of `uri` run on this host (their QEMU threads are in our /proc)."""
    return urllib.parse.urlsplit(uri).hostname in (None, "", "localhost")


NOWAIT = getattr(libvirt, "VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT", 0)

T = TypeVar("T")


def optional_call(call: Callable[..., T], *args: Any) -> T | None:
    """A call some drivers do not implement: None instead of failing the collection."""
    try:
        return call(*args)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() in (libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_OPERATION_INVALID):
            return None
        raise


def cpu_stats(total: list[dict[str, int]] | None) -> dict[str, int]:
    """virDomainGetCPUStats' domain total, under the keys of the cpu-total stats group."""
    if not total:
        return {}
    names = {"cpu_time": "cpu.time", "user_time": "cpu.user", "system_time": "cpu.system"}
    return {key: total[0][name] for name, key in names.items() if name in total[0]}


CONTROL_TROUBLE = {
    libvirt.VIR_DOMAIN_CONTROL_JOB: "job",
    libvirt.VIR_DOMAIN_CONTROL_OCCUPIED: "monitor_busy",
    libvirt.VIR_DOMAIN_CONTROL_ERROR: "monitor_error",
}


def _troubles(domains: list[Any]) -> dict[str, str]:
    """uuid -> why the domain cannot answer in full now, for those that cannot, from
    virDomainGetControlInfo, which takes no job and asks QEMU nothing."""
    found = {}
    for dom in domains:
        with contextlib.suppress(libvirt.libvirtError):  # gone: the inventory will say so
            reason = CONTROL_TROUBLE.get(dom.controlInfo()[0], "")
            if reason:
                found[dom.UUIDString()] = reason
    return found


def _partial_records(domains: list[Any], reasons: dict[str, str]) -> list[DomainRecord]:
    """What job-free calls tell of domains whose monitor is occupied: state and cgroup CPU
    times (the rest comes from their last known record)."""
    records = []
    for dom in domains:
        with contextlib.suppress(libvirt.libvirtError):
            state, reason = dom.state()
            stats = {"state.state": state, "state.reason": reason}
            stats.update(cpu_stats(optional_call(dom.getCPUStats, True)))
            records.append(DomainRecord(dom.name(), dom.UUIDString(), stats, stale=reasons[dom.UUIDString()]))
    return records


def _has_block_counters(stats: dict[str, Any]) -> bool:
    return any(f"block.{i}.rd.reqs" in stats for i in range(int(stats.get("block.count", 0))))


def _retrieve(call: asyncio.Future[Any]) -> None:
    if not call.cancelled():
        call.exception()


def _split(items: list[Any], parts: int) -> list[list[Any]]:
    return [chunk for chunk in (items[i::parts] for i in range(parts)) if chunk]


class LifecycleCounter:
    """Counts lifecycle events as the event thread delivers them, so a crash between two
    scrapes is not missed. A vanished domain's counts are dropped an hour after its last
    event, which bounds the label set on hosts with many short-lived domains."""

    RETAIN_SECONDS = 3600.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, str], int] = {}
        self._last_event: dict[str, float] = {}

    def record(self, domain: str, event: int, detail: int) -> None:
        key = (domain, event_name(event), event_detail_name(event, detail))
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1
            self._last_event[domain] = time.monotonic()

    def snapshot(self, present: set[str]) -> dict[tuple[str, str, str], int]:
        now = time.monotonic()
        with self._lock:
            for domain, last in list(self._last_event.items()):
                if domain not in present and now - last > self.RETAIN_SECONDS:
                    del self._last_event[domain]
                    for key in [k for k in self._counts if k[0] == domain]:
                        del self._counts[key]
            return dict(self._counts)


@dataclasses.dataclass(frozen=True, slots=True)
class HostView:
    """How the exporter sees the host's QEMU processes: `running()` maps domain names to
    their pids (Shared.running_domains), procfs and sysfs are the host's mounts. Used only
    when libvirt's URI is local."""
    running: Callable[[], dict[str, int]]
    procfs: Path
    sysfs: Path


class LibvirtSource:
    """The libvirt collector's reads, on the app's shared libvirt source."""

    def __init__(self, shared: SharedLibvirt, parallel: int = 4, groups: tuple[str, ...] = DEFAULT_GROUPS,
                 wanted: Callable[[str], bool] = lambda _name: True, budget: float = 5.0,
                 slow_interval: float = 60.0, host: HostView | None = None) -> None:
        self.shared = shared
        self._groups = frozenset(groups)
        self._fresh_flags = fresh_flags(self._groups)
        self.slow = SlowStats(self._groups, slow_interval)
        self._full_flags = self._fresh_flags | self.slow.flags()
        self._wanted = wanted  # domain names to read (--libvirt.domain-include/-exclude)
        self.lifecycle = LifecycleCounter()
        self.connection = shared.connection
        self.connection.subscribe(domain_event=self.slow.event, lifecycle=self.lifecycle.record)
        host = host if host is not None and is_local(self.connection.uri) else None
        self._running = host.running if host else None
        self._vcpus = VcpuThreads(host.procfs) if host and "vcpu" in self._groups else None
        self._cpu = DomainCpu(host.procfs, host.sysfs) if host else None
        self.parallel = parallel
        self._nowait = NOWAIT
        # A domain whose QEMU hangs holds one stuck call (one thread) until it answers again.
        self._pool = DaemonThreadPool(parallel + 16, "libvirt")
        self._budget = budget
        # uuid -> (its last call, when it started)
        self._outstanding: dict[str, tuple[asyncio.Future[Any], float]] = {}
        self._last: dict[str, DomainRecord] = {}  # uuid -> last fresh record
        self._domains: dict[str, Any] = {}  # uuid -> virDomain of the last collection
        self._domain_errors: Counter[tuple[str, str]] = Counter()
        self._unreachable = ""  # the error last logged, so an outage is logged once
        self._kvm_usable: tuple[float, int, bool | None] | None = None  # (read at, generation, value)
        self._calls = asyncio.Lock()  # a background read and a scrape's calls never overlap
        self._background: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()  # an event made a background read due at once
        self._inventory_call: asyncio.Future[Any] | None = None  # the last collection's first call
        self._slow_call: asyncio.Future[Any] | None = None  # the last background read
        self._slow_started = 0.0  # when it started (monotonic)
        self._answered_at = 0.0  # when libvirt last answered a collection's inventory

    async def fetch(self) -> LibvirtSnapshot:
        loop = asyncio.get_running_loop()
        if self._background is None and self.slow.groups:
            def wake() -> None:  # on libvirt's event thread
                loop.call_soon_threadsafe(self._wake.set)
            self.slow.on_urgent = wake
            self._background = loop.create_task(self._refresh_slow(), name="libvirt-slow-stats")
        self._inventory_call = loop.run_in_executor(self._pool, self._inventory)
        try:
            conn, host, domains, autostart, persistent, pids = await self._inventory_call
        except libvirt.libvirtError as exc:
            if str(exc) != self._unreachable:
                log.warning("libvirt unreachable", extra={"uri": self.connection.uri, "err": str(exc)})
            self._unreachable = str(exc)
            return LibvirtSnapshot(up=False, error=str(exc))
        self._answered_at = time.monotonic()
        if self._unreachable:
            log.info("libvirt reachable again", extra={"uri": self.connection.uri})
            self._unreachable = ""
        async with self._calls:
            records = await self._domain_records(loop, conn, domains, pids)
        now = time.monotonic()
        for record in records:
            record.autostart = record.uuid in autostart
            record.persistent = record.uuid in persistent
            record.stats, record.ages = self.slow.overlay(record.uuid, record.stats, now)
        records.sort(key=lambda r: r.name)
        events = {key: count for key, count in self.lifecycle.snapshot({r.name for r in records}).items()
                  if self._wanted(key[0])}  # events of domains left out are left out too
        return LibvirtSnapshot(up=True, host=host, domains=records, lifecycle_events=events,
                               domain_errors=dict(self._domain_errors),
                               event_counts=dict(self.shared.event_counts), groups=self._groups)

    def _busy(self, now: float) -> set[str]:
        """Domains still inside a call that started more than SUSPECT_AFTER ago."""
        return {uuid for uuid, (call, started) in self._outstanding.items()
                if not call.done() and now - started > SUSPECT_AFTER}

    async def _domain_records(self, loop: asyncio.AbstractEventLoop, conn: Any,
                              domains: list[Any], pids: dict[str, int]) -> list[DomainRecord]:
        """Fresh records where libvirt answers within the budget; for a domain whose calls are
        stuck or failed, the last known record, marked stale with the reason. A domain still
        inside an earlier call is a suspect: `virDomainGetControlInfo` (no job, nothing asked of
        QEMU) tells whether its monitor is still occupied; if so only job-free calls are made
        for it (state, cgroup CPU times), never another call that would wait on its monitor,
        so one hung QEMU holds one call and costs the other domains nothing."""
        now = time.monotonic()
        busy = self._busy(now)
        suspects = [dom for dom in domains if dom.UUIDString() in busy]
        troubled = await loop.run_in_executor(self._pool, _troubles, suspects) if suspects else {}
        healthy = [dom for dom in domains if dom.UUIDString() not in troubled]
        calls = {loop.run_in_executor(self._pool, self._domain_share, conn, group, pids): group
                 for group in _split(healthy, self.parallel)}
        for call, group in calls.items():
            for dom in group:
                self._outstanding[dom.UUIDString()] = (call, now)
        sick = [dom for dom in domains if dom.UUIDString() in troubled]
        partial = loop.run_in_executor(self._pool, _partial_records, sick, troubled) if sick else None
        waiting = [*calls, *([partial] if partial is not None else [])]
        done, late = await asyncio.wait(waiting, timeout=self._budget) if waiting else (set(), set())
        if late:  # a call is stuck in a hung QEMU: later calls go over a fresh connection
            self._pool.submit(self.connection.retire)  # takes the connection lock: not on the loop
        fresh: dict[str, DomainRecord] = {}
        failed: dict[str, str] = {}
        for call in done:
            error = call.exception()
            if error is None:
                fresh.update((record.uuid, record) for record in call.result())
            elif isinstance(error, libvirt.libvirtError) and not is_connection_error(error):
                failed.update((dom.UUIDString(), error_reason(error)) for dom in calls.get(call, sick))
            else:
                raise error
        self._forget_except({dom.UUIDString(): dom for dom in domains}, set(pids.values()))
        records = (self._fresh_or_last(dom.UUIDString(), fresh, failed) for dom in domains)
        return [record for record in records if record is not None]

    def _forget_except(self, domains: dict[str, Any], pids: set[int]) -> None:
        """Drop what is kept per domain for domains that are gone."""
        self._domains = domains
        names = {dom.name() for dom in domains.values()}
        for cache in (self._outstanding, self._last):
            for uuid in cache.keys() - domains.keys():
                del cache[uuid]
        for key in [key for key in self._domain_errors if key[0] not in names]:
            del self._domain_errors[key]
        self.slow.retain(set(domains))
        for reader in (self._vcpus, self._cpu):
            if reader is not None:
                reader.forget_except(pids)

    def _fresh_or_last(self, uuid: str, fresh: dict[str, DomainRecord],
                       failed: dict[str, str]) -> DomainRecord | None:
        record = fresh.get(uuid)
        if record is not None and not record.stale:
            self._last[uuid] = record
            return record
        reason = record.stale if record is not None else failed.get(uuid, "timeout")
        last = self._last.get(uuid)
        known = last or record
        if known is None:  # never answered: nothing to serve
            return None
        self._domain_errors[(known.name, reason)] += 1
        if last is None:  # nothing better known: the partial answer, marked
            return record
        stats = {**last.stats, **(record.stats if record is not None else {})}
        return dataclasses.replace(last, stats=stats, stale=reason)

    def _inventory(self) -> tuple[Any, HostInfo, list[Any], frozenset[str], frozenset[str], dict[str, int]]:
        inventory = self.shared.inventory()
        conn = inventory.conn
        domains = [dom for dom in inventory.domains if self._wanted(dom.name())]
        pids = self._running() if self._running is not None else {}
        return conn, self._host_info(conn), domains, inventory.autostart, inventory.persistent, pids

    def _host_info(self, conn: Any) -> HostInfo:
        model, mib, cpus, mhz, nodes, sockets, cores, threads = conn.getInfo()
        memory = optional_call(conn.getMemoryStats, libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS) or {}
        total, free = memory.get("total"), memory.get("free")
        return HostInfo(
            model=model, cpus=cpus, mhz=mhz, numa_nodes=nodes, sockets=sockets, cores=cores,
            threads=threads, memory_bytes=total * 1024 if total else mib * 1024 * 1024,
            free_memory_bytes=free * 1024 if free is not None else None,
            libvirt_version=version_string(conn.getLibVersion()),
            hypervisor=conn.getType(), hypervisor_version=version_string(conn.getVersion()),
            kvm_usable=self._kvm_usable_cached(conn),
        )

    def _kvm_usable_cached(self, conn: Any) -> bool | None:
        """Capabilities change only with the host's software; re-read every XML_MAX_AGE."""
        cached = self._kvm_usable
        generation = self.connection.generation
        if cached is None or cached[1] != generation or time.monotonic() - cached[0] > XML_MAX_AGE:
            capabilities = optional_call(conn.getCapabilities)
            try:
                usable = kvm_usable(capabilities) if capabilities else None
            except ValueError:
                usable = None
            cached = self._kvm_usable = (time.monotonic(), generation, usable)
        return cached[2]

    def _domain_share(self, conn: Any, domains: list[Any], pids: dict[str, int]) -> list[DomainRecord]:
        """The bulk calls for `domains` (the fresh groups; with the slow groups too for domains
        that have none yet), then the per-domain calls each needs. An error of one domain's
        calls costs that domain (a record marked with the error), not the share."""
        new: list[Any] = []
        known: list[Any] = []
        for dom in domains:
            (new if self.slow.missing(dom.UUIDString()) else known).append(dom)
        answers = [*self._bulk_stats(conn, new, self._full_flags),
                   *self._bulk_stats(conn, known, self._fresh_flags)]
        records = []
        for dom, stats in answers:
            try:
                records.append(self._record(dom, stats, pids))
            except libvirt.libvirtError as exc:
                if is_missing_domain(exc):
                    continue  # gone between the bulk call and ours: skip it
                if is_connection_error(exc):
                    raise
                records.append(DomainRecord(dom.name(), dom.UUIDString(), stats, stale=error_reason(exc)))
        return records

    def _bulk_stats(self, conn: Any, domains: list[Any], flags: int) -> list[tuple[Any, dict[str, Any]]]:
        if not domains:
            return []
        try:
            return list(conn.domainListGetStats(domains, flags, self._nowait))
        except libvirt.libvirtError as exc:
            if self._nowait and exc.get_error_code() == libvirt.VIR_ERR_INVALID_ARG:
                self._nowait = 0  # a daemon older than 4.5 rejects NOWAIT
                return list(conn.domainListGetStats(domains, flags, 0))
            raise

    def _record(self, dom: Any, stats: dict[str, Any], pids: dict[str, int]) -> DomainRecord:
        uuid, name = dom.UUIDString(), dom.name()
        record = DomainRecord(name=name, uuid=uuid, stats=stats)
        state = int(stats.get("state.state", 0))
        dom_id = dom.ID() if state in ACTIVE_STATES else -1
        record.xml = self.shared.domain_xml(dom, uuid, dom_id, stats)
        if record.xml is not None:
            self.slow.set_period(uuid, record.xml.balloon_period)
        self.slow.store(uuid, stats)
        if state in ACTIVE_STATES:
            self._add_active_stats(dom, record, pids.get(name))
        if state == PAUSED:
            record.disk_errors = optional_call(dom.diskErrors)
        if state in ACTIVE_STATES and self._block_skipped(uuid, stats):
            record.stale = "job"  # NOWAIT: a job holds the domain, QEMU was not asked
        return record

    def _add_active_stats(self, dom: Any, record: DomainRecord, pid: int | None) -> None:
        if self._vcpus is not None and pid is not None:
            record.stats.update(self._vcpus.read(pid))
        if "cpu" in self._groups:
            cpu = self._cpu.read(pid) if self._cpu is not None and pid is not None else {}
            record.stats.update(cpu or cpu_stats(optional_call(dom.getCPUStats, True)))
        if "job" in self._groups:
            record.job = optional_call(dom.jobStats)

    def _block_skipped(self, uuid: str, stats: dict[str, Any]) -> bool:
        """Whether libvirt left out the block counters it gave last time (it skips what needs
        QEMU's monitor for a domain whose job it could not take at once)."""
        last = self._last.get(uuid)
        if last is None or "block" not in self._groups:
            return False
        return _has_block_counters(last.stats) and not _has_block_counters(stats)

    async def _refresh_slow(self) -> None:
        """The background reads of the slow groups: one bulk call per group over the domains
        whose read is due, never for a domain still inside a call, each within the budget."""
        loop = asyncio.get_running_loop()
        while True:
            await self._until_due()
            if not self._libvirt_answers():
                continue
            async with self._calls:
                busy = {uuid for uuid, (call, _) in self._outstanding.items() if not call.done()}
                due = self.slow.due([uuid for uuid in self._domains if uuid not in busy])
                for group, uuids in due.items():
                    if not self._libvirt_answers():
                        break
                    await self._read_slow(loop, [self._domains[uuid] for uuid in uuids], group)

    def _libvirt_answers(self) -> bool:
        """Background reads only while libvirt answered the last collection, and, if an
        earlier background read is stuck (a hung QEMU in it), only once a collection has
        answered since it started: a frozen daemon holds one background call, never more,
        and a hung domain (busy, so left out) does not stop the others' reads."""
        if self._unreachable or (self._inventory_call is not None and not self._inventory_call.done()):
            return False
        stuck = self._slow_call is not None and not self._slow_call.done()
        return not stuck or self._answered_at > self._slow_started

    async def _until_due(self) -> None:
        next_due = self.slow.next_due()
        wait = SLOW_TICK if next_due is None else min(SLOW_TICK, max(0.05, next_due - time.monotonic()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), wait)
        self._wake.clear()

    async def _read_slow(self, loop: asyncio.AbstractEventLoop, domains: list[Any], group: str) -> None:
        flags = int(libvirt.VIR_DOMAIN_STATS_STATE) | int(SLOW_GROUPS[group])
        call = self._slow_call = loop.run_in_executor(self._pool, self._slow_answers, domains, flags)
        call.add_done_callback(_retrieve)  # a late call's error is nobody's to raise
        started = self._slow_started = time.monotonic()
        for dom in domains:
            self._outstanding[dom.UUIDString()] = (call, started)
        done, _ = await asyncio.wait({call}, timeout=self._budget)
        uuids = [dom.UUIDString() for dom in domains]
        if not done:
            self.slow.failed(uuids)
            self._pool.submit(self.connection.retire)
            return
        error = call.exception()
        if error is not None:
            log.debug("background stats read failed", extra={"group": group, "err": str(error)})
            self.slow.failed(uuids)
            return
        for uuid, stats in call.result():
            self.slow.store(uuid, stats)

    def _slow_answers(self, domains: list[Any], flags: int) -> list[tuple[str, dict[str, Any]]]:
        conn = self.connection.get()
        return [(dom.UUIDString(), stats) for dom, stats in self._bulk_stats(conn, domains, flags)
                if int(stats.get("state.state", 0)) in ACTIVE_STATES]

    async def close(self) -> None:
        if self._background is not None:
            self._background.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._background
        self._pool.shutdown(wait=False, cancel_futures=True)
