"""Per-domain QEMU process figures (faults domain_failure, overcommit) from `--path.procfs`,
and QEMU's memory beyond guest RAM.

Read directly (stat, io, the fd directory's size): three reads per process, where psutil
made five and looked at the exporter's own /proc whatever `--path.procfs` said.

The overhead is the process's resident memory minus the resident part of the guest RAM
mapping (the anonymous or file mapping whose size is the guest's `-m`), both from one read
of /proc/<pid>/smaps. smaps of a QEMU process is ~1000 mappings, so it is re-read only every
`OVERHEAD_REFRESH` seconds per process, not per scrape.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from exporter.procfs import count_open_fds, fd_dir_size_counts, parse_boot_time, parse_pid_io, parse_pid_stat
from exporter.qemu_pids import guest_memory_bytes, read_cmdline
from exporter.sysfs import read_text

OVERHEAD_REFRESH = 60.0
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class QemuProcess:
    domain: str
    pid: int
    rss_bytes: int
    user_seconds: float
    system_seconds: float
    threads: int
    open_fds: int | None
    read_bytes: int | None
    write_bytes: int | None
    guest_memory_bytes: int | None
    overhead_bytes: int | None
    start_time: float | None = None  # when the QEMU process (the running domain) started


def memory_overhead(smaps: str, guest_kib: int) -> int | None:
    """Resident bytes outside the mappings whose `Size:` is exactly the guest RAM; None if no
    mapping has that size (RAM split over several backends, or hugepages reported apart)."""
    total = guest = 0
    found = matching = False
    for line in smaps.splitlines():
        if line.startswith("Size:"):
            matching = int(line.split()[1]) == guest_kib
            found = found or matching
        elif line.startswith("Rss:"):
            resident = int(line.split()[1]) * 1024
            total += resident
            guest += resident if matching else 0
    return total - guest if found else None


class QemuProcessReader:
    def __init__(self, procfs: Path) -> None:
        self._procfs = procfs
        self._fd_size_counts = fd_dir_size_counts(procfs)
        self._boot_time: int | None = None  # the host's, read once: it does not change
        self._guest_memory: dict[int, int | None] = {}
        self._overhead: dict[int, tuple[float, int | None]] = {}

    def read(self, running: dict[str, int]) -> list[QemuProcess]:
        pids = set(running.values())
        for cache in (self._guest_memory, self._overhead):
            for pid in cache.keys() - pids:
                del cache[pid]
        found = []
        for domain, pid in sorted(running.items()):
            sample = self._sample(domain, pid)
            if sample is not None:  # else stopped since the pid file was read
                found.append(sample)
        return found

    def _sample(self, domain: str, pid: int) -> QemuProcess | None:
        base = f"{self._procfs}/{pid}"
        try:
            stat = parse_pid_stat(read_text(f"{base}/stat"))
        except (OSError, ValueError):
            return None
        if stat.state in ("Z", "X"):
            return None
        io = _io_bytes(base)
        try:
            fds: int | None = count_open_fds(self._procfs, pid, self._fd_size_counts)
        except OSError:
            fds = None
        if pid not in self._guest_memory:
            argv = read_cmdline(self._procfs, pid)
            self._guest_memory[pid] = guest_memory_bytes(argv) if argv else None
        guest = self._guest_memory[pid]
        return QemuProcess(
            domain=domain, pid=pid, rss_bytes=stat.rss_pages * PAGE_SIZE,
            user_seconds=stat.user_ticks / TICKS_PER_SECOND,
            system_seconds=stat.system_ticks / TICKS_PER_SECOND,
            threads=stat.threads, open_fds=fds,
            read_bytes=io[0] if io else None, write_bytes=io[1] if io else None,
            guest_memory_bytes=guest, overhead_bytes=self._overhead_bytes(pid, guest),
            start_time=self._started(stat.start_ticks),
        )

    def _started(self, ticks: int) -> float | None:
        if self._boot_time is None:
            try:
                self._boot_time = parse_boot_time(read_text(f"{self._procfs}/stat"))
            except (OSError, ValueError):
                return None
        return self._boot_time + ticks / TICKS_PER_SECOND

    def _overhead_bytes(self, pid: int, guest: int | None) -> int | None:
        if guest is None:
            return None
        cached = self._overhead.get(pid)
        now = time.monotonic()
        if cached is None or now - cached[0] >= OVERHEAD_REFRESH:
            try:
                smaps = (self._procfs / str(pid) / "smaps").read_text()
            except OSError:
                return None
            cached = (now, memory_overhead(smaps, guest // 1024))
            self._overhead[pid] = cached
        return cached[1]


def _io_bytes(base: str) -> tuple[int, int] | None:
    """(read, written) bytes of `/proc/<pid>/io`, readable by the process's owner (or root)."""
    try:
        return parse_pid_io(read_text(f"{base}/io"))
    except (OSError, ValueError):
        return None
