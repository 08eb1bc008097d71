"""Virtual disk integrity (faults virtual_disk, recovery_point): `qemu-img check
--output=json` results, and which ZFS dataset holds a disk image (for the recovery-point
join with ZFS snapshots). Pure parsers."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

CHECKABLE_FORMATS = ("qcow2", "qed", "vdi", "vhdx", "vmdk", "parallels")
EXIT_UNSUPPORTED = 63


@dataclass(frozen=True)
class CheckResult:
    status: str  # ok, corrupt, leaks, failed, unsupported, timeout, missing
    corruptions: int | None = None
    leaks: int | None = None
    check_errors: int | None = None
    image_end_offset: int | None = None
    checked_at: float = 0.0


def parse_check(exit_status: int, output: str, checked_at: float) -> CheckResult:
    """qemu-img check exits 0 (clean), 2 (corruptions), 3 (leaks), 1 (check failed) or 63
    (format without checks); the JSON report is printed whenever the check ran."""
    if exit_status == EXIT_UNSUPPORTED:
        return CheckResult("unsupported", checked_at=checked_at)
    try:
        report = json.loads(output) if output.strip() else None
    except json.JSONDecodeError:
        report = None
    if not isinstance(report, dict):
        return CheckResult("failed", checked_at=checked_at)

    def number(key: str) -> int | None:
        value = report.get(key) if isinstance(report, dict) else None
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    corruptions, leaks = number("corruptions") or 0, number("leaks") or 0
    errors = number("check-errors") or 0
    if corruptions:
        status = "corrupt"
    elif errors or exit_status == 1:
        status = "failed"
    elif leaks:
        status = "leaks"
    else:
        status = "ok"
    return CheckResult(status, corruptions, leaks, errors, number("image-end-offset"), checked_at)


@dataclass(frozen=True)
class Mount:
    point: str
    fstype: str
    source: str


def parse_mountinfo(text: str) -> list[Mount]:
    """/proc/<pid>/mountinfo: `id parent major:minor root point options ... - fstype source opts`."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 2:
            continue
        point = fields[4].replace("\\040", " ")
        mounts.append(Mount(point, tail[0], tail[1]))
    return mounts


def zfs_dataset_of(path: str, mounts: list[Mount]) -> str | None:
    """The ZFS dataset holding `path`: a zvol (`/dev/zvol/<dataset>`) or a file on a mounted
    ZFS filesystem (the deepest mount point containing it)."""
    if path.startswith("/dev/zvol/"):
        return path.removeprefix("/dev/zvol/")
    best: Mount | None = None
    for mount in mounts:
        prefix = mount.point.rstrip("/") + "/"
        contains = path.startswith(prefix) or mount.point == "/"
        if contains and (best is None or len(mount.point) > len(best.point)):
            best = mount
    if best is not None and best.fstype == "zfs":
        return best.source
    return None


def image_state(path: str) -> tuple[bool, bool]:
    """(present, readable) of a disk image file or block device."""
    present = os.path.exists(path)
    return present, present and os.access(path, os.R_OK)
