"""The md RAID collector (fault raid_degraded): arrays from /proc/mdstat, refined by
/sys/block/md*/md where the kernel has it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from exporter.collector import SysfsCollector, register
from exporter.collectors.mdraid.mdstat import MdArray, MdSysfs, parse_mdstat, read_md_sysfs
from exporter.metrics import Family, gauge
from exporter.settings import Settings
from exporter.shared import Shared
from exporter.sysfs import SysfsReader, read_text

D = ["device"]
# sysfs sync_action -> the name mdstat uses; idle and frozen mean nothing runs
SYSFS_ACTIONS = {"recover": "recovery", "idle": None, "frozen": None}


@dataclass
class MdSnapshot:
    arrays: list[tuple[MdArray, MdSysfs]]


def synced_blocks(array: MdArray) -> int:
    if array.sync_waiting:
        return 0
    if array.sync_blocks_done is not None:
        return array.sync_blocks_done
    return array.blocks


def degraded(array: MdArray, sysfs: MdSysfs) -> int | None:
    if sysfs.degraded is not None:
        return sysfs.degraded
    if array.required is not None and array.in_sync is not None:
        return array.required - array.in_sync
    return None


def md_families(snapshot: MdSnapshot) -> list[Family]:
    info = gauge("md_info", "An md array: RAID level, state (active, inactive), read-only mode and the "
                 "kernel's array_state (clean, active, degraded, read-auto, ...).",
                 ["device", "level", "state", "read_only", "array_state"])
    disks = gauge("md_disks", "Member disks of the md array by state (active, failed, spare).",
                  ["device", "state"])
    required = gauge("md_disks_required", "Disks the md array needs to be complete.", D)
    missing = gauge("md_degraded", "Disks missing from the md array (0 when complete).", D)
    blocks = gauge("md_blocks", "Size of the md array, in 1 KiB blocks.", D)
    synced = gauge("md_blocks_synced", "Blocks of the md array in sync (less while it recovers, "
                   "resyncs or checks).", D)
    action = gauge("md_sync_action", "What the md array is doing: idle, recovery, resync, check, "
                   "reshape (1 for the current one).", ["device", "action"])
    progress = gauge("md_sync_progress_ratio", "Progress of the running recovery, resync, check or "
                     "reshape, 0 to 1.", D)
    for array, sysfs in snapshot.arrays:
        key = (array.device,)
        info.add((array.device, array.level, array.state, array.read_only, sysfs.array_state or ""), 1)
        disks.add((array.device, "active"), array.members - array.failed - array.spare)
        disks.add((array.device, "failed"), array.failed)
        disks.add((array.device, "spare"), array.spare)
        if array.required is not None:
            required.add(key, array.required)
        lost = degraded(array, sysfs)
        if lost is not None:
            missing.add(key, lost)
        blocks.add(key, array.blocks)
        synced.add(key, synced_blocks(array))
        running = SYSFS_ACTIONS.get(sysfs.sync_action or "idle", sysfs.sync_action)
        current = running or array.sync_action
        action.add((array.device, current), 1)
        done_total = sysfs.sync_completed or (
            (array.sync_blocks_done, array.sync_blocks_total)
            if array.sync_blocks_done is not None and array.sync_blocks_total else None)
        if current != "idle" and done_total and done_total[1]:
            progress.add(key, done_total[0] / done_total[1])
    return [info, disks, required, missing, blocks, synced, action, progress]


class MdraidCollector(SysfsCollector[MdSnapshot]):
    name = "mdraid"

    def __init__(self, sysfs: str, procfs: str) -> None:
        self._mdstat = Path(procfs) / "mdstat"
        super().__init__(sysfs, self._read_snapshot, md_families)

    def _read_snapshot(self, reader: SysfsReader) -> MdSnapshot:
        try:
            text = read_text(self._mdstat)
        except FileNotFoundError:
            return MdSnapshot([])  # no md driver loaded: nothing to watch
        return MdSnapshot([(array, read_md_sysfs(reader, array.device)) for array in parse_mdstat(text)])


@register("mdraid", default_enabled=True,
          description="md software RAID arrays: state, disks, degraded, sync progress")
def create(settings: Settings, _shared: Shared) -> MdraidCollector:
    return MdraidCollector(settings.path_sysfs, settings.path_procfs)
