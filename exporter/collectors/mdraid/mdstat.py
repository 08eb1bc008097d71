"""Linux software RAID (fault raid_degraded): /proc/mdstat (pure parser) and /sys/block/md*/md (array_state,
degraded, sync_action, sync_completed), which are exact where mdstat is abbreviated."""

from __future__ import annotations

import re
from dataclasses import dataclass

from exporter.sysfs import SysfsReader

_DEVICE = re.compile(r"^(md\w+) : (\w+)(?: \(([^)]*)\))?(.*)$")
_STATUS = re.compile(r"\[(\d+)/(\d+)\] \[([U_]+)\]")
_BLOCKS = re.compile(r"^\s*(\d+) blocks")
_SYNC = re.compile(r"(recovery|resync|check|reshape)\s*=\s*([\d.]+)%\s*\((\d+)/(\d+)\)")
_SYNC_WAITING = re.compile(r"(resync|recovery|reshape|check)\s*=\s*(DELAYED|PENDING)")
LEVELS = re.compile(r"^(raid\d+|linear|multipath|faulty)$")


@dataclass
class MdArray:
    device: str
    state: str  # active, inactive
    read_only: str  # "", "read-only", "auto-read-only"
    level: str
    members: int
    failed: int
    spare: int
    required: int | None  # raid devices the array needs ([n/m] n)
    in_sync: int | None  # of those, working ([n/m] m)
    blocks: int
    sync_action: str  # idle, recovery, resync, check, reshape
    sync_blocks_done: int | None
    sync_blocks_total: int | None
    sync_waiting: bool = False


def parse_mdstat(text: str) -> list[MdArray]:
    """Raises ValueError on a device line without its status line."""
    arrays = []
    lines = text.splitlines()
    for index, line in enumerate(lines):
        match = _DEVICE.match(line)
        if match is None:
            continue
        device, state, qualifier, rest = match.groups()
        words = rest.split()
        level = words[0] if words and LEVELS.match(words[0]) else ""
        members = [w for w in words if "[" in w]
        following = lines[index + 1:index + 4]
        if not following or not _BLOCKS.match(following[0]):
            raise ValueError(f"mdstat: {device} has no blocks line")
        status = _STATUS.search(following[0])
        blocks = int(_BLOCKS.match(following[0]).group(1))  # type: ignore[union-attr]
        array = MdArray(
            device=device, state=state, read_only=qualifier or "", level=level,
            members=len(members), failed=sum(1 for w in members if w.endswith("(F)")),
            spare=sum(1 for w in members if w.endswith("(S)")),
            required=int(status.group(1)) if status else None,
            in_sync=int(status.group(2)) if status else None,
            blocks=blocks, sync_action="idle", sync_blocks_done=None, sync_blocks_total=None)
        for extra in following[1:]:
            if _DEVICE.match(extra):
                break
            if sync := _SYNC.search(extra):
                array.sync_action = sync.group(1)
                array.sync_blocks_done, array.sync_blocks_total = int(sync.group(3)), int(sync.group(4))
            elif waiting := _SYNC_WAITING.search(extra):
                array.sync_action, array.sync_waiting = waiting.group(1), True
        if array.required is None and array.state == "active" and array.level in ("raid0", "linear"):
            array.required = array.in_sync = array.members - array.spare  # no redundancy to lose
        arrays.append(array)
    return arrays


@dataclass
class MdSysfs:
    array_state: str | None
    degraded: int | None
    sync_action: str | None
    sync_completed: tuple[int, int] | None


def read_md_sysfs(reader: SysfsReader, device: str) -> MdSysfs:
    base = f"block/{device}/md"
    completed = reader.read_str(reader.path(f"{base}/sync_completed"))
    done_total = None
    if completed and "/" in completed:
        done, _, total = completed.partition("/")
        if done.strip().isdigit() and total.strip().isdigit():
            done_total = (int(done), int(total))
    return MdSysfs(
        array_state=reader.read_str(reader.path(f"{base}/array_state")),
        degraded=reader.read_int(reader.path(f"{base}/degraded")),
        sync_action=reader.read_str(reader.path(f"{base}/sync_action")),
        sync_completed=done_total,
    )
