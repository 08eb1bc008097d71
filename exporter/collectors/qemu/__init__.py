"""The QEMU collector (faults domain_failure, overcommit): each running domain's QEMU
process (memory, CPU, threads, fds, I/O, overhead beyond guest RAM) and errors in its log."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from exporter.collector import ThreadedCollector, register
from exporter.collectors.qemu.logs import KINDS, LogTailer, classify_line
from exporter.collectors.qemu.processes import QemuProcess, QemuProcessReader
from exporter.metrics import Family, counter, gauge
from exporter.options import Option
from exporter.settings import Settings
from exporter.shared import Shared

log = logging.getLogger(__name__)

D = ["domain"]


@dataclass(frozen=True)
class QemuSnapshot:
    processes: list[QemuProcess]
    log_errors: dict[tuple[str, str], int]
    logs_readable: bool


def process_families(processes: list[QemuProcess]) -> list[Family]:
    p = "domain_qemu_"
    rss = gauge(p + "resident_memory_bytes", "Resident memory of the domain's QEMU process, in bytes.", D)
    cpu = counter(p + "cpu_seconds", "CPU time of the domain's QEMU process (vCPUs included), "
                  "in seconds.", ["domain", "mode"])
    threads = gauge(p + "threads", "Threads of the domain's QEMU process.", D)
    fds = gauge(p + "open_fds", "File descriptors the domain's QEMU process has open.", D)
    read = counter(p + "read_bytes", "Bytes the domain's QEMU process read from storage.", D)
    written = counter(p + "written_bytes", "Bytes the domain's QEMU process wrote to storage.", D)
    guest = gauge(p + "guest_memory_bytes", "Guest RAM the QEMU process was started with (-m), in bytes.", D)
    overhead = gauge(p + "memory_overhead_bytes", "Resident memory of the QEMU process outside guest "
                     "RAM (device emulation, caches, page tables), in bytes; refreshed every minute.", D)
    started = gauge(p + "start_time_seconds", "When the domain's QEMU process started (the domain "
                    "started, or arrived by migration), as a Unix timestamp; uptime is time() minus it.", D)
    for process in processes:
        key = (process.domain,)
        rss.add(key, process.rss_bytes)
        cpu.add((process.domain, "user"), process.user_seconds)
        cpu.add((process.domain, "system"), process.system_seconds)
        threads.add(key, process.threads)
        for family, value in ((fds, process.open_fds), (read, process.read_bytes),
                              (written, process.write_bytes), (guest, process.guest_memory_bytes),
                              (overhead, process.overhead_bytes), (started, process.start_time)):
            if value is not None:
                family.add(key, value)
    return [rss, cpu, threads, fds, read, written, guest, overhead, started]


def log_families(errors: dict[tuple[str, str], int], readable: bool) -> list[Family]:
    lines = counter("domain_qemu_log_errors", "Error lines in the domain's QEMU log by kind "
                    "(device_error, io_error, migration_failure, terminated_by_signal), "
                    "since the exporter started.", ["domain", "kind"])
    for (domain, kind), value in sorted(errors.items()):
        lines.add((domain, kind), value)
    up = gauge("qemu_logs_readable", "Whether the QEMU log directory could be read (1) or not (0).")
    up.add((), 1 if readable else 0)
    return [lines, up]


def qemu_families(snapshot: QemuSnapshot) -> list[Family]:
    return [*process_families(snapshot.processes), *log_families(snapshot.log_errors, snapshot.logs_readable)]


class QemuCollector(ThreadedCollector[QemuSnapshot]):
    name = "qemu"

    def __init__(self, running: Callable[[], dict[str, int]], log_dir: str, procfs: str) -> None:
        self._running = running  # domain -> QEMU pid (Shared.running_domains)
        self._tailer = LogTailer(Path(log_dir))
        self._processes = QemuProcessReader(Path(procfs))
        self._log_errors: Counter[tuple[str, str]] = Counter()
        self._log_error_reported = False
        super().__init__(self._read, qemu_families)

    def _read(self) -> QemuSnapshot:
        running = self._running()
        readable = self._read_logs(running)
        for domain in running:
            for kind in KINDS:
                self._log_errors.setdefault((domain, kind), 0)
        return QemuSnapshot(self._processes.read(running), dict(self._log_errors), readable)

    def _read_logs(self, running: dict[str, int]) -> bool:
        try:
            new_lines = self._tailer.poll(running)
        except OSError as exc:
            if not self._log_error_reported:
                log.error("cannot read the QEMU log directory",
                          extra={"path": str(self._tailer.directory), "err": exc.strerror or str(exc)})
                self._log_error_reported = True
            return False
        for domain, lines in new_lines.items():
            for line in lines:
                kind = classify_line(line)
                if kind is not None:
                    self._log_errors[(domain, kind)] += 1
        return True



LOG_DIR = Option("qemu.log-dir", "var/log/libvirt/qemu", "Directory of QEMU's per-domain logs.",
                 under_rootfs=True)


@register("qemu", default_enabled=True, options=[LOG_DIR],
          description="each domain's QEMU process (memory, CPU, fds, I/O, overhead) and its log errors")
def create(settings: Settings, shared: Shared) -> QemuCollector:
    return QemuCollector(shared.running_domains, LOG_DIR.of(settings), settings.path_procfs)
