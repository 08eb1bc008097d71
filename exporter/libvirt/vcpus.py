"""Per-vCPU CPU time and scheduler delay, read from the host's /proc, with no libvirt call.

libvirt's vcpu stats group takes a domain job and asks QEMU for KVM's statistics
(`query-stats`) in the same call, one monitor round trip per domain; the time, wait and
delay it reports next to them are read from /proc. So the exporter reads those itself,
every scrape: QEMU names its vCPU threads `CPU <n>/KVM` (or `/TCG`), libvirt starts it
with `debug-threads=on`, and each thread's `schedstat` holds its run time and its time
runnable in the host run queue (libvirt's `vcpu.<n>.delay`); its `sched` holds `wait_sum`
(libvirt's `vcpu.<n>.wait`) only when the kernel keeps scheduler statistics; its `stat` the
host CPU it last ran on (`vcpu.<n>.cpu`, ours: libvirt has it only in virDomainGetVcpus).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from exporter.procfs import parse_pid_stat
from exporter.sysfs import read_text

_VCPU_THREAD = re.compile(r"^CPU (\d+)/(?:KVM|TCG|HVF|WHPX)$")
_WAIT_SUM = re.compile(r"^(?:se\.statistics\.)?wait_sum\s*:\s*(\d+)(?:\.(\d{1,6}))?\s*$", re.M)


def vcpu_index(comm: str) -> int | None:
    """`CPU 3/KVM` -> 3; None for QEMU's other threads."""
    match = _VCPU_THREAD.match(comm.strip())
    return int(match.group(1)) if match else None


def parse_schedstat(text: str) -> tuple[int, int]:
    """`/proc/<pid>/task/<tid>/schedstat`: (ns on a CPU, ns runnable in the run queue)."""
    fields = text.split()
    if len(fields) < 2 or not all(f.isascii() and f.isdigit() for f in fields[:2]):
        raise ValueError(f"not a schedstat line: {text[:80]!r}")
    return int(fields[0]), int(fields[1])


def parse_wait_sum(text: str) -> int | None:
    """`wait_sum : 123.456789` (milliseconds) in a task's `sched`, in ns; None without schedstats."""
    match = _WAIT_SUM.search(text)
    if match is None:
        return None
    return int(match.group(1)) * 1_000_000 + int((match.group(2) or "0").ljust(6, "0"))


class VcpuThreads:
    """vCPU thread stats of QEMU processes, as libvirt's `vcpu.*` keys. Each thread's name is
    read once per thread (QEMU does not rename threads); a vanished process is forgotten."""

    def __init__(self, procfs: Path) -> None:
        self._procfs = procfs
        self._indexes: dict[int, dict[int, int | None]] = {}  # pid -> tid -> vCPU index
        self._wait_known: bool | None = None  # does this kernel keep wait_sum?

    def read(self, pid: int) -> dict[str, int]:
        """`vcpu.current` and `vcpu.<n>.time/delay[/wait]` of one QEMU process; {} if it is gone."""
        tasks = f"{self._procfs}/{pid}/task"
        try:
            tids = [int(name) for name in os.listdir(tasks) if name.isdigit()]
        except OSError:
            self._indexes.pop(pid, None)
            return {}
        known = self._indexes.setdefault(pid, {})
        for gone in known.keys() - set(tids):
            del known[gone]
        stats: dict[str, int] = {}
        for tid in tids:
            if tid not in known:
                known[tid] = self._index_of(f"{tasks}/{tid}")
            index = known[tid]
            if index is not None:
                stats.update(self._thread_stats(f"{tasks}/{tid}", index))
        vcpus = {int(key.split(".")[1]) for key in stats}
        if vcpus:
            stats["vcpu.current"] = len(vcpus)
        return stats

    def forget_except(self, pids: set[int]) -> None:
        for pid in self._indexes.keys() - pids:
            del self._indexes[pid]

    @staticmethod
    def _index_of(task: str) -> int | None:
        try:
            return vcpu_index(read_text(f"{task}/comm"))
        except (OSError, UnicodeDecodeError):
            return None

    def _thread_stats(self, task: str, index: int) -> dict[str, int]:
        try:
            runtime, delay = parse_schedstat(read_text(f"{task}/schedstat"))
        except (OSError, UnicodeDecodeError, ValueError):
            return {}
        stats = {f"vcpu.{index}.time": runtime, f"vcpu.{index}.delay": delay}
        try:
            processor = parse_pid_stat(read_text(f"{task}/stat")).processor
        except (OSError, UnicodeDecodeError, ValueError):
            processor = None
        if processor is not None:
            stats[f"vcpu.{index}.cpu"] = processor
        if self._wait_known is not False:
            try:
                wait = parse_wait_sum(read_text(f"{task}/sched"))
            except (OSError, UnicodeDecodeError):
                wait = None
            if self._wait_known is None:
                self._wait_known = wait is not None
            if wait is not None:
                stats[f"vcpu.{index}.wait"] = wait
        return stats
