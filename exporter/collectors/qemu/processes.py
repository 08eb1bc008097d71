"""Per-domain QEMU process figures (faults domain_failure, overcommit) via psutil, and
QEMU's memory beyond guest RAM.

The overhead is the process's resident memory minus the resident part of the guest RAM
mapping (the anonymous or file mapping whose size is the guest's `-m`), both from one read
of /proc/<pid>/smaps. smaps of a QEMU process is ~1000 mappings, so it is re-read only every
`OVERHEAD_REFRESH` seconds per process, not per scrape.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import psutil

from exporter.qemu_pids import guest_memory_bytes, read_cmdline

OVERHEAD_REFRESH = 60.0

T = TypeVar("T")


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
        self._processes: dict[int, psutil.Process] = {}
        self._guest_memory: dict[int, int | None] = {}
        self._overhead: dict[int, tuple[float, int | None]] = {}

    def read(self, running: dict[str, int]) -> list[QemuProcess]:
        pids = set(running.values())
        for cache in (self._processes, self._guest_memory, self._overhead):
            for pid in cache.keys() - pids:
                del cache[pid]
        found = []
        for domain, pid in sorted(running.items()):
            try:
                found.append(self._sample(domain, pid))
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                self._processes.pop(pid, None)  # stopped since the pid file was read
        return found

    def _process(self, pid: int) -> psutil.Process:
        process = self._processes.get(pid)
        if process is None:
            process = self._processes[pid] = psutil.Process(pid)
        return process

    def _sample(self, domain: str, pid: int) -> QemuProcess:
        process = self._process(pid)
        with process.oneshot():
            rss = process.memory_info().rss
            cpu = process.cpu_times()
            threads = process.num_threads()
            fds = _optional(process.num_fds)
            io = _optional(process.io_counters)
        if pid not in self._guest_memory:
            argv = read_cmdline(self._procfs, pid)
            self._guest_memory[pid] = guest_memory_bytes(argv) if argv else None
        guest = self._guest_memory[pid]
        return QemuProcess(
            domain=domain, pid=pid, rss_bytes=rss, user_seconds=cpu.user, system_seconds=cpu.system,
            threads=threads, open_fds=fds,
            read_bytes=io.read_bytes if io else None, write_bytes=io.write_bytes if io else None,
            guest_memory_bytes=guest,
            overhead_bytes=self._overhead_bytes(pid, guest),
        )

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


def _optional(read: Callable[[], T]) -> T | None:
    try:
        return read()
    except (psutil.AccessDenied, NotImplementedError):
        return None
