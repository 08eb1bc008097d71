"""The ZFS collector (faults zfs_pool, recovery_point): pool health, vdev tree and errors,
scrub/resilver, properties and snapshots from zpool/zfs run in the background on their own
interval with a timeout (zpool can hang on a broken pool), and ARC, pool I/O and dataset
counters from kstat read per scrape.

Nothing runs while the ZFS module is not loaded (no kstat directory): a host without ZFS
gets `kvm_zfs_present 0` and nothing else.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from exporter.collector import SingleFlight, in_thread, read_errors_family, register
from exporter.collectors.zfs.parse import (
    GET_ARGS,
    POOL_STATES,
    SNAPSHOT_ARGS,
    STATUS_JSON_ARGS,
    STATUS_TEXT_ARGS,
    Kstats,
    PoolStatus,
    parse_get,
    parse_snapshots,
    parse_status_json,
    parse_status_text,
    property_value,
    read_kstats,
)
from exporter.commands import CommandError, parse_off_loop
from exporter.metrics import Family, counter, gauge
from exporter.options import Option, duration, regex
from exporter.poller import Poller, first_wait
from exporter.settings import Settings
from exporter.shared import Shared

P = ["pool"]
V = ["pool", "vdev"]
ARC = {  # arcstats row -> (metric, kind, help)
    "hits": ("zfs_arc_hits", "counter", "ARC hits."),
    "misses": ("zfs_arc_misses", "counter", "ARC misses."),
    "size": ("zfs_arc_size_bytes", "gauge", "Current ARC size, in bytes."),
    "c": ("zfs_arc_target_bytes", "gauge", "ARC target size (c), in bytes."),
    "c_max": ("zfs_arc_max_bytes", "gauge", "ARC maximum size (c_max), in bytes."),
    "l2_hits": ("zfs_l2arc_hits", "counter", "L2ARC hits."),
    "l2_misses": ("zfs_l2arc_misses", "counter", "L2ARC misses."),
    "l2_size": ("zfs_l2arc_size_bytes", "gauge", "L2ARC size, in bytes."),
}
DATASET_COUNTERS = {"writes": "writes", "nwritten": "written_bytes", "reads": "reads", "nread": "read_bytes"}


@dataclass
class ZfsState:
    pools: list[PoolStatus] = field(default_factory=list)
    properties: dict[str, dict[str, str]] = field(default_factory=dict)
    snapshots: dict[str, tuple[int, float]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # command -> reason
    last_success: float = 0.0


class ZfsPoller:
    def __init__(self, settings: Settings) -> None:
        self.zpool = ZPOOL.of(settings)
        self.zfs = ZFS.of(settings)
        self.timeout = TIMEOUT.of(settings)
        self.snapshot_include = re.compile(SNAPSHOT_INCLUDE.of(settings))
        self.state = ZfsState()
        self._json: bool | None = None  # does this zpool speak JSON? learnt on the first run
        self.background = Poller("zfs", self.poll, INTERVAL.of(settings),
                                 first_wait(settings.collector_timeout))

    async def _run(self, argv: list[str]) -> str:
        return await self.background.output(argv, self.timeout)

    async def _status(self) -> list[PoolStatus]:
        if self._json is not False:
            code, output = await self.background.status([self.zpool, *STATUS_JSON_ARGS], self.timeout)
            try:
                if code != 0:
                    raise CommandError(f"exit_{code}")
                pools = await parse_off_loop(parse_status_json, output)
            except (CommandError, ValueError) as exc:
                if self._json:  # JSON worked before: this is a failure, not an old zpool
                    self.background.failed(str(exc) if isinstance(exc, CommandError) else "garbage")
                    raise
                self._json = False  # older OpenZFS: `-j` is an unknown option
            else:
                self._json = True
                return pools
        output = await self._run([self.zpool, *STATUS_TEXT_ARGS])
        try:
            return await parse_off_loop(parse_status_text, output)
        except ValueError:
            self.background.failed("garbage")
            raise

    async def poll(self) -> None:
        state = ZfsState(self.state.pools, self.state.properties, self.state.snapshots,
                         last_success=self.state.last_success)
        jobs = {
            "zpool_status": self._status(),
            "zpool_get": self._run([self.zpool, *GET_ARGS]),
            "zfs_list_snapshots": self._run([self.zfs, *SNAPSHOT_ARGS]),
        }
        results = await asyncio.gather(*jobs.values(), return_exceptions=True)
        for command, result in zip(jobs, results, strict=True):
            if isinstance(result, CommandError):
                state.errors[command] = str(result)
            elif isinstance(result, ValueError):
                state.errors[command] = "garbage"
            elif isinstance(result, BaseException):
                raise result
            elif command == "zpool_status":
                state.pools = result  # type: ignore[assignment]
            elif command == "zpool_get":
                try:
                    state.properties = await parse_off_loop(parse_get, result)  # type: ignore[arg-type]
                except ValueError:
                    self.background.failed("garbage")
                    state.errors[command] = "garbage"
            else:
                try:
                    snapshots = await parse_off_loop(parse_snapshots, result)  # type: ignore[arg-type]
                except ValueError:
                    self.background.failed("garbage")
                    state.errors[command] = "garbage"
                else:
                    state.snapshots = {d: v for d, v in snapshots.items() if self.snapshot_include.search(d)}
        if "zpool_status" not in state.errors:
            state.last_success = time.time()
        self.state = state


def pool_families(state: ZfsState) -> list[Family]:
    health = gauge("zfs_pool_state", "Whether the pool is in this state (ONLINE, DEGRADED, FAULTED, "
                   "OFFLINE, UNAVAIL, REMOVED, SUSPENDED): 1 for the current one.", ["pool", "state"])
    vinfo = gauge("zfs_vdev_info", "A vdev of the pool: its type (root, mirror, raidz, draid, disk, "
                  "...), parent and state.", ["pool", "vdev", "type", "parent", "state"])
    vonline = gauge("zfs_vdev_online", "Whether the vdev is ONLINE (1) or not (0).", V)
    verrors = {kind: counter(f"zfs_vdev_{kind}_errors", f"{kind.capitalize()} errors ZFS counted on the "
                             "vdev (reset by zpool clear).", V) for kind in ("read", "write", "checksum")}
    scan_info = gauge("zfs_pool_scan_info", "The pool's latest scrub or resilver and its state "
                      "(scanning, finished, canceled).", ["pool", "function", "state"])
    scan_start = gauge("zfs_pool_scan_start_time_seconds", "When the latest scan started.", P)
    scan_end = gauge("zfs_pool_scan_end_time_seconds", "When the latest scan ended.", P)
    scrub_end = gauge("zfs_pool_last_scrub_end_time_seconds", "When the latest finished scrub ended.", P)
    scan_progress = gauge("zfs_pool_scan_progress_ratio", "Progress of the latest scan, 0 to 1.", P)
    scan_errors = gauge("zfs_pool_scan_errors", "Errors the latest finished scan found.", P)
    data_errors = gauge("zfs_pool_data_errors", "Data errors (damaged files) the pool knows of.", P)
    for pool in state.pools:
        for known in POOL_STATES:
            health.add((pool.name, known), 1 if pool.state == known else 0)
        for vdev in pool.vdevs:
            key = (pool.name, vdev.name)
            vinfo.add((*key, vdev.type, vdev.parent, vdev.state), 1)
            vonline.add(key, 1 if vdev.state in ("ONLINE", "AVAIL", "INUSE") else 0)
            for kind, value in (("read", vdev.read_errors), ("write", vdev.write_errors),
                                ("checksum", vdev.checksum_errors)):
                if value is not None:
                    verrors[kind].add(key, value)
        if pool.data_errors is not None:
            data_errors.add((pool.name,), pool.data_errors)
        scan = pool.scan
        if scan is None or not scan.function or scan.function == "none":
            continue
        scan_info.add((pool.name, scan.function, scan.state), 1)
        for family, scan_value in ((scan_start, scan.start_time), (scan_end, scan.end_time),
                                   (scan_progress, scan.progress), (scan_errors, scan.errors)):
            if scan_value is not None:
                family.add((pool.name,), scan_value)
        if scan.function == "scrub" and scan.state == "finished" and scan.end_time:
            scrub_end.add((pool.name,), scan.end_time)
    return [health, vinfo, vonline, *verrors.values(), scan_info, scan_start, scan_end, scrub_end,
            scan_progress, scan_errors, data_errors, *property_families(state.properties)]


PROPERTY_METRICS = {
    "size": ("zfs_pool_size_bytes", "Size of the pool, in bytes."),
    "allocated": ("zfs_pool_allocated_bytes", "Space allocated in the pool, in bytes."),
    "free": ("zfs_pool_free_bytes", "Free space of the pool, in bytes."),
    "fragmentation": ("zfs_pool_fragmentation_ratio", "Free-space fragmentation of the pool, 0 to 1."),
    "capacity": ("zfs_pool_capacity_ratio", "Share of the pool in use, 0 to 1."),
    "dedupratio": ("zfs_pool_dedup_ratio", "Deduplication ratio of the pool."),
    "readonly": ("zfs_pool_readonly", "Whether the pool is imported read-only (1) or not (0)."),
    "autotrim": ("zfs_pool_autotrim_enabled", "Whether autotrim is on (1) or off (0)."),
    "ashift": ("zfs_pool_ashift", "The pool's ashift (log2 of its sector size)."),
}


def property_families(properties: dict[str, dict[str, str]]) -> list[Family]:
    families = {name: gauge(metric, doc, P) for name, (metric, doc) in PROPERTY_METRICS.items()}
    for pool, values in sorted(properties.items()):
        for name, family in families.items():
            value = property_value(name, values.get(name, "-"))
            if value is not None:
                family.add((pool,), value)
    return list(families.values())


def snapshot_families(snapshots: dict[str, tuple[int, float]]) -> list[Family]:
    count = gauge("zfs_dataset_snapshots", "Snapshots of the dataset.", ["dataset"])
    newest = gauge("zfs_dataset_newest_snapshot_timestamp_seconds", "When the dataset's newest "
                   "snapshot was taken (its recovery point).", ["dataset"])
    for dataset, (number, created) in sorted(snapshots.items()):
        count.add((dataset,), number)
        newest.add((dataset,), created)
    return [count, newest]


def kstat_families(kstats: Kstats) -> list[Family]:
    families = []
    for row, (metric, kind, doc) in ARC.items():
        value = kstats.arc.get(row)
        if isinstance(value, int):
            family = counter(metric, doc) if kind == "counter" else gauge(metric, doc)
            family.add((), value)
            families.append(family)
    io = counter("zfs_pool_io", "The pool's I/O kstat counters (<pool>/io: nread, nwritten, reads, "
                 "writes, ...; <pool>/iostats on OpenZFS >= 2.1), by kstat name.", ["pool", "stat"])
    for pool, values in sorted(kstats.pool_io.items()):
        for stat, value in sorted(values.items()):
            io.add((pool, stat), value)
    datasets = {row: counter(f"zfs_dataset_{name}", f"Logical {name.replace('_', ' ')} of the "
                             "dataset (objset kstat).", ["pool", "dataset"])
                for row, name in DATASET_COUNTERS.items()}
    for (pool, dataset), values in sorted(kstats.datasets.items()):
        for row, family in datasets.items():
            if row in values:
                family.add((pool, dataset), values[row])
    return [*families, io, *datasets.values()]


class ZfsCollector:
    name = "zfs"

    def __init__(self, settings: Settings) -> None:
        self._kstat = Path(settings.path_procfs) / "spl" / "kstat" / "zfs"
        self.poller = ZfsPoller(settings)
        self._read_errors = 0
        self._kstats: SingleFlight[Kstats] = in_thread(lambda: read_kstats(self._kstat), local=True)

    async def collect(self) -> list[Family]:
        present = gauge("zfs_present", "Whether the ZFS module is loaded (its kstat directory exists).")
        try:
            kstats = await self._kstats.run()
        except OSError:
            present.add((), 0)
            return [present]
        present.add((), 1)
        self._read_errors += kstats.errors
        read_errors = read_errors_family(self.name, self._read_errors)
        await self.poller.background.first_round()
        state = self.poller.state
        up = gauge("zfs_up", "Whether the last `zpool status` answered (1) or not (0); the pool series "
                   "keep its last answer.")
        up.add((), 0 if "zpool_status" in state.errors else 1)
        error = gauge("zfs_command_error", "A zpool/zfs command that failed in the last round and why "
                      "(exec_failed, timeout, exit_N, garbage).", ["command", "reason"])
        for command, reason in sorted(state.errors.items()):
            error.add((command, reason), 1)
        success = gauge("zfs_last_success_timestamp_seconds", "When `zpool status` last answered.")
        success.add((), state.last_success)
        return [present, read_errors, up, error, success, *pool_families(state),
                *snapshot_families(state.snapshots), *kstat_families(kstats),
                *self.poller.background.families()]

    async def close(self) -> None:
        await self.poller.background.stop()


ZPOOL = Option("zpool.path", "zpool", "zpool to run.")
ZFS = Option("zfs.path", "zfs", "zfs to run.")
INTERVAL = Option("zfs.interval", 60.0, "How often zpool/zfs run, in the background.", parse=duration,
                  shown="60s")
TIMEOUT = Option("zfs.timeout", 30.0, "Time one zpool/zfs run may take before it is killed (zpool can "
                 "hang on a broken pool).", parse=duration, shown="30s")
SNAPSHOT_INCLUDE = Option("zfs.snapshot-dataset-include", "", "Only datasets matching this regular "
                          "expression get snapshot series (default: all).", parse=regex)


@register("zfs", default_enabled=True, options=[ZPOOL, ZFS, INTERVAL, TIMEOUT, SNAPSHOT_INCLUDE],
          description="ZFS pools, vdevs, scrubs, properties, snapshots (background) and ARC/dataset kstats")
def create(settings: Settings, _shared: Shared) -> ZfsCollector:
    return ZfsCollector(settings)
