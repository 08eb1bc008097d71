"""The storage collector (faults virtual_disk, recovery_point): every domain disk's image
present and readable, `qemu-img check` results from a background schedule (read-only,
`-U` while the domain runs), the ZFS dataset under each image, libvirt snapshots per
domain, and libvirt storage pools (from what libvirt knows: no pool refresh)."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libvirt

from exporter.collector import CollectorError, SingleFlight, in_thread, register
from exporter.collectors.storage.images import (
    CHECKABLE_FORMATS,
    CheckResult,
    image_state,
    parse_check,
    parse_mountinfo,
    zfs_dataset_of,
)
from exporter.commands import CommandError
from exporter.libvirt.connection import is_missing_domain
from exporter.libvirt.domxml import DiskInfo
from exporter.libvirt.shared import SharedLibvirt
from exporter.metrics import Family, gauge
from exporter.options import Option, duration
from exporter.poller import Poller, first_wait
from exporter.settings import Settings
from exporter.shared import Shared
from exporter.sysfs import read_text

DT = ["domain", "target"]
POOL_STATES = {0: "inactive", 1: "building", 2: "running", 3: "degraded", 4: "inaccessible"}
CHECK_STATUSES = ("ok", "corrupt", "leaks", "failed", "unsupported", "timeout", "missing")


@dataclass(frozen=True)
class Disk:
    domain: str
    target: str
    path: str
    format: str
    active: bool
    present: bool
    readable: bool
    dataset: str | None


@dataclass
class Pool:
    name: str
    state: int
    capacity: int
    allocation: int
    available: int
    volumes: int | None


@dataclass
class StorageSnapshot:
    disks: list[Disk] = field(default_factory=list)
    snapshots: dict[str, tuple[int, float | None]] = field(default_factory=dict)
    pools: list[Pool] = field(default_factory=list)


class LibvirtStorage:
    """Reads domains' disks, snapshots and pools from the app's libvirt source (its domain
    inventory and XML cache, re-read on libvirt's events). libvirt has no snapshot events,
    so a domain's snapshot list is re-read when an event arrives or after
    `snapshot_interval` (one call per domain per interval, not per scrape); snapshot
    creation times never change and are kept."""

    def __init__(self, libvirt_source: SharedLibvirt, procfs: Path, snapshot_interval: float = 60.0) -> None:
        self._snapshot_interval = snapshot_interval
        self._libvirt = libvirt_source
        self._procfs = procfs
        self._snapshot_times: dict[tuple[str, str], float | None] = {}
        self._snapshot_lists: dict[str, tuple[float, int, tuple[int, float | None]]] = {}

    def read(self) -> StorageSnapshot:
        inventory = self._libvirt.inventory()
        mounts = self._mounts()
        snapshot = StorageSnapshot()
        uuids = set()
        for dom in inventory.domains:
            try:
                uuid, name = dom.UUIDString(), dom.name()
                active = uuid in inventory.active
                uuids.add(uuid)
                for disk in self._disks(dom, uuid, active):
                    if disk.source_type not in ("file", "block") or not disk.source:
                        continue
                    present, readable = image_state(disk.source)
                    snapshot.disks.append(Disk(name, disk.target, disk.source, disk.driver_type, active,
                                               present, readable, zfs_dataset_of(disk.source, mounts)))
                snapshot.snapshots[name] = self._snapshots(dom, uuid)
            except libvirt.libvirtError as exc:
                if not is_missing_domain(exc):
                    raise
        for gone in set(self._snapshot_lists) - uuids:
            del self._snapshot_lists[gone]
        for key in [k for k in self._snapshot_times if k[0] not in uuids]:
            del self._snapshot_times[key]
        snapshot.pools = self._pools(inventory.conn)
        return snapshot

    def _disks(self, dom: Any, uuid: str, active: bool) -> tuple[DiskInfo, ...]:
        info = self._libvirt.domain_xml(dom, uuid, dom.ID() if active else -1)
        return info.disks if info is not None else ()

    def _snapshots(self, dom: Any, uuid: str) -> tuple[int, float | None]:
        cached = self._snapshot_lists.get(uuid)
        now = time.monotonic()
        fresh = cached is not None and now - cached[0] < self._snapshot_interval
        events = self._libvirt.events_of(uuid)
        if cached is not None and fresh and cached[1] == events:
            return cached[2]
        result = self._read_snapshots(dom, uuid)
        self._snapshot_lists[uuid] = (now, events, result)
        return result

    def _read_snapshots(self, dom: Any, uuid: str) -> tuple[int, float | None]:
        names = dom.snapshotListNames(0)
        newest: float | None = None
        for name in names:
            key = (uuid, name)
            if key not in self._snapshot_times:
                xml = dom.snapshotLookupByName(name, 0).getXMLDesc(0)
                created = ET.fromstring(xml).findtext("creationTime")
                self._snapshot_times[key] = float(created) if created and created.isdigit() else None
            created_at = self._snapshot_times[key]
            if created_at is not None and (newest is None or created_at > newest):
                newest = created_at
        return len(names), newest

    @staticmethod
    def _pools(conn: Any) -> list[Pool]:
        pools = []
        for pool in conn.listAllStoragePools(0):
            try:
                state, capacity, allocation, available = pool.info()
                volumes = pool.numOfVolumes() if state == libvirt.VIR_STORAGE_POOL_RUNNING else None
                pools.append(Pool(pool.name(), state, capacity, allocation, available, volumes))
            except libvirt.libvirtError:
                continue  # undefined while we looked
        return sorted(pools, key=lambda p: p.name)

    def _mounts(self) -> list[Any]:
        for candidate in ("1/mountinfo", "self/mountinfo"):
            try:
                return parse_mountinfo(read_text(self._procfs / candidate))
            except OSError:
                continue
        return []


class ImageChecker:
    """Runs `qemu-img check` over the checkable images of `disks()`, one at a time, every
    interval."""

    def __init__(self, settings: Settings, disks: Callable[[], list[Disk]]) -> None:
        self.qemu_img = QEMU_IMG.of(settings)
        self.timeout = CHECK_TIMEOUT.of(settings)
        self._disks = disks
        self.results: dict[tuple[str, str], tuple[str, CheckResult]] = {}  # (domain, target) -> (path, r)
        self.background = Poller("qemu-img", self.poll, CHECK_INTERVAL.of(settings),
                                 first_wait(settings.collector_timeout))

    async def check(self, disk: Disk) -> CheckResult:
        if not disk.present:
            return CheckResult("missing", checked_at=time.time())
        argv = [self.qemu_img, "check", "--output=json", "-f", disk.format]
        if disk.active:
            argv.append("-U")  # the running QEMU holds the write lock; we only read
        try:
            code, output = await self.background.status([*argv, disk.path], self.timeout)
        except CommandError as exc:
            return CheckResult("timeout" if str(exc) == "timeout" else "failed", checked_at=time.time())
        return parse_check(code, output, time.time())

    async def poll(self) -> None:
        wanted = {(d.domain, d.target): d for d in self._disks() if d.format in CHECKABLE_FORMATS}
        for key, disk in wanted.items():
            self.results[key] = (disk.path, await self.check(disk))
        for gone in set(self.results) - set(wanted):
            del self.results[gone]


def disk_families(snapshot: StorageSnapshot,
                  checks: dict[tuple[str, str], tuple[str, CheckResult]]) -> list[Family]:
    present = gauge("domain_disk_image_present", "Whether the disk's image file or device exists (1) or "
                    "not (0).", DT)
    readable = gauge("domain_disk_image_readable", "Whether the exporter can read the disk's image (1) "
                     "or not (0).", DT)
    dataset = gauge("domain_disk_zfs_dataset_info", "The ZFS dataset holding the disk's image (a zvol "
                    "or a file on a ZFS filesystem).", [*DT, "dataset"])
    status = gauge("domain_disk_check_status", "Result of the latest qemu-img check of the image: ok, "
                   "corrupt, leaks, failed, unsupported, timeout or missing (1 for the current one).",
                   [*DT, "status"])
    corruptions = gauge("domain_disk_check_corruptions", "Corruptions the latest qemu-img check found.", DT)
    leaks = gauge("domain_disk_check_leaks", "Leaked clusters the latest qemu-img check found.", DT)
    errors = gauge("domain_disk_check_errors", "Errors that kept the latest qemu-img check from "
                   "checking everything.", DT)
    end = gauge("domain_disk_image_end_offset_bytes", "Image end offset the latest check reported.", DT)
    when = gauge("domain_disk_check_timestamp_seconds", "When the image was last checked.", DT)
    for disk in snapshot.disks:
        key = (disk.domain, disk.target)
        present.add(key, 1 if disk.present else 0)
        readable.add(key, 1 if disk.readable else 0)
        if disk.dataset:
            dataset.add((*key, disk.dataset), 1)
        checked = checks.get(key)
        if checked is None or checked[0] != disk.path:
            continue
        result = checked[1]
        for known in CHECK_STATUSES:
            status.add((*key, known), 1 if result.status == known else 0)
        for family, value in ((corruptions, result.corruptions), (leaks, result.leaks),
                              (errors, result.check_errors), (end, result.image_end_offset)):
            if value is not None:
                family.add(key, value)
        when.add(key, result.checked_at)
    return [present, readable, dataset, status, corruptions, leaks, errors, end, when]


def snapshot_families(snapshot: StorageSnapshot) -> list[Family]:
    count = gauge("domain_snapshots", "libvirt snapshots of the domain.", ["domain"])
    newest = gauge("domain_newest_snapshot_timestamp_seconds", "When the domain's newest libvirt "
                   "snapshot was taken (its recovery point).", ["domain"])
    for domain, (number, created) in sorted(snapshot.snapshots.items()):
        count.add((domain,), number)
        if created is not None:
            newest.add((domain,), created)
    return [count, newest]


def pool_families(snapshot: StorageSnapshot) -> list[Family]:
    state = gauge("storage_pool_state", "The libvirt storage pool's state (inactive, building, running, "
                  "degraded, inaccessible): 1 for the current one.", ["pool", "state"])
    capacity = gauge("storage_pool_capacity_bytes", "Capacity of the libvirt storage pool.", ["pool"])
    allocation = gauge("storage_pool_allocation_bytes", "Allocation of the libvirt storage pool.", ["pool"])
    available = gauge("storage_pool_available_bytes", "Free space of the libvirt storage pool.", ["pool"])
    volumes = gauge("storage_pool_volumes", "Volumes in the running libvirt storage pool.", ["pool"])
    for pool in snapshot.pools:
        for code, name in POOL_STATES.items():
            state.add((pool.name, name), 1 if pool.state == code else 0)
        capacity.add((pool.name,), pool.capacity)
        allocation.add((pool.name,), pool.allocation)
        available.add((pool.name,), pool.available)
        if pool.volumes is not None:
            volumes.add((pool.name,), pool.volumes)
    return [state, capacity, allocation, available, volumes]


class StorageCollector:
    name = "storage"

    def __init__(self, settings: Settings, shared: Shared) -> None:
        self.source = LibvirtStorage(shared.libvirt, Path(settings.path_procfs),
                                     SNAPSHOT_INTERVAL.of(settings))
        self._disks: list[Disk] = []
        self.checker = ImageChecker(settings, lambda: self._disks)
        self._flight: SingleFlight[StorageSnapshot] = in_thread(self.source.read)

    async def collect(self) -> list[Family]:
        try:
            snapshot = await self._flight.run()
        except libvirt.libvirtError as exc:
            raise CollectorError(f"libvirt: {exc}", []) from exc
        self._disks = snapshot.disks
        self.checker.background.start()  # a scrape never waits for a check: results come as they finish
        return [*disk_families(snapshot, self.checker.results), *snapshot_families(snapshot),
                *pool_families(snapshot), *self.checker.background.families()]

    async def close(self) -> None:
        await self.checker.background.stop()


SNAPSHOT_INTERVAL = Option("libvirt.snapshot-interval", 60.0, "How often each domain's snapshot list "
                           "is re-read (libvirt has no snapshot events).", parse=duration, shown="1m")
QEMU_IMG = Option("qemu-img.path", "qemu-img", "qemu-img to check disk images with.")
CHECK_INTERVAL = Option("qemu-img.check-interval", 3600.0, "How often every qcow2/vmdk/... image is "
                        "checked, in the background.", parse=duration, shown="1h")
CHECK_TIMEOUT = Option("qemu-img.check-timeout", 300.0, "Time one qemu-img check may take before it "
                       "is killed.", parse=duration, shown="5m")


@register("storage", default_enabled=True,
          options=[SNAPSHOT_INTERVAL, QEMU_IMG, CHECK_INTERVAL, CHECK_TIMEOUT],
          description="domain disk images present/readable, qemu-img checks, snapshots, storage pools")
def create(settings: Settings, shared: Shared) -> StorageCollector:
    return StorageCollector(settings, shared)
