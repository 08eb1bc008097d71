"""The kernel collector (fault process_oom, and kernel events for the hardware, storage and
KVM layers): /proc/vmstat oom_kill and the records of /dev/kmsg that say something broke.

An OOM kill of a QEMU process is attributed to its domain: from the pid files of running
domains (remembered after they stop), else from the memory cgroup named in the kernel's
oom-kill record.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from exporter.collector import CollectorError, SingleFlight, in_thread, register
from exporter.collectors.kernel.kmsg import KernelEvent, KmsgReader, classify, domain_from_memcg
from exporter.metrics import Family, counter, single
from exporter.options import Option
from exporter.procfs import read_vmstat
from exporter.qemu_pids import PidIndex
from exporter.settings import Settings
from exporter.shared import Shared

log = logging.getLogger(__name__)

KERNEL_FACILITY = 0
OTHER = "_other"
MAX_LABEL_SETS = 256
HARDWARE_KINDS = ("mce", "edac_corrected", "edac_uncorrected")


class BoundedCounts:
    """Counts per label set; past `limit` distinct sets, new ones are counted as `_other`."""

    def __init__(self, width: int, limit: int = MAX_LABEL_SETS) -> None:
        self.counts: Counter[tuple[str, ...]] = Counter()
        self._width = width
        self._limit = limit

    def add(self, labels: tuple[str, ...], count: int = 1) -> None:
        if labels not in self.counts and len(self.counts) >= self._limit:
            labels = (OTHER,) * self._width
        self.counts[labels] += count


class KernelEvents:
    """Counters fed by classified kernel records, since the exporter started."""

    def __init__(self) -> None:
        self.oom_kills = BoundedCounts(2)
        self.hardware_errors = BoundedCounts(1)
        self.block_io_errors = BoundedCounts(1)
        self.iscsi_connection_errors = BoundedCounts(1)
        self.kvm_init_failures = BoundedCounts(1)
        self.iscsi_recovery_timeouts = 0
        self.records = 0
        self.lost = 0
        for kind in HARDWARE_KINDS:
            self.hardware_errors.counts[(kind,)] = 0
        self._oom_memcg: dict[int, str] = {}

    def count(self, event: KernelEvent, pids: PidIndex) -> None:
        if event.kind == "oom_context":
            self._oom_memcg = {event.pid: event.memcg}
        elif event.kind == "oom_kill":
            domain = pids.domain(event.pid) or domain_from_memcg(self._oom_memcg.get(event.pid, ""))
            self.oom_kills.add((event.labels[0], domain))
        elif event.kind == "hardware_error":
            self.hardware_errors.add(event.labels, event.count)
        elif event.kind == "block_io_error":
            self.block_io_errors.add(event.labels)
        elif event.kind == "iscsi_connection_error":
            self.iscsi_connection_errors.add(event.labels)
        elif event.kind == "iscsi_session_recovery_timeout":
            self.iscsi_recovery_timeouts += 1
        elif event.kind == "kvm_init_failure":
            self.kvm_init_failures.add(event.labels)


def _counts_family(name: str, doc: str, labelnames: list[str], counts: BoundedCounts) -> Family:
    family = counter(name, doc, labelnames)
    for labels, value in sorted(counts.counts.items()):
        family.add(labels, value)
    return family


def event_families(events: KernelEvents) -> list[Family]:
    k = "kernel_"
    return [
        _counts_family(k + "oom_kills", "Processes the kernel OOM killer killed, by command and, for "
                       "QEMU, the libvirt domain it ran (empty otherwise), since the exporter started.",
                       ["comm", "domain"], events.oom_kills),
        _counts_family(k + "hardware_errors", "Machine-check and EDAC memory errors the kernel logged "
                       "(kind mce, edac_corrected, edac_uncorrected), since the exporter started.",
                       ["kind"], events.hardware_errors),
        _counts_family(k + "block_io_errors", "Block-layer request errors (I/O, medium, timeout, ...) "
                       "the kernel logged per device, since the exporter started.",
                       ["device"], events.block_io_errors),
        _counts_family(k + "iscsi_connection_errors", "iSCSI connection errors the kernel logged, "
                       "by iSCSI error code (1011 ping timeout, 1020 TCP closed, ...).",
                       ["code"], events.iscsi_connection_errors),
        single(counter(k + "iscsi_session_recovery_timeouts", "iSCSI sessions whose recovery timed "
                       "out (their disks failed I/O), since the exporter started."),
               events.iscsi_recovery_timeouts),
        _counts_family(k + "kvm_init_failures", "KVM module initialisations that failed (disabled by "
                       "BIOS, no hardware support), since the exporter started.",
                       ["reason"], events.kvm_init_failures),
        single(counter(k + "log_records", "Kernel log records the exporter read."), events.records),
        single(counter(k + "log_records_lost", "Kernel log records overwritten in the ring buffer "
                       "before the exporter read them."), events.lost),
    ]


def vmstat_families(vmstat: dict[str, int]) -> list[Family]:
    if "oom_kill" not in vmstat:
        return []
    return [single(counter("host_oom_kills", "Processes killed by the kernel OOM killer since boot "
                           "(/proc/vmstat oom_kill)."), vmstat["oom_kill"])]


class KernelCollector:
    name = "kernel"

    def __init__(self, kmsg_path: str, procfs: str, running: Callable[[], dict[str, int]]) -> None:
        self._reader = KmsgReader(kmsg_path)
        self._procfs = Path(procfs)
        self._running = running  # domain -> QEMU pid (Shared.running_domains)
        self._pids = PidIndex()
        self._events = KernelEvents()
        self._reported_unreadable = False
        self._flight: SingleFlight[tuple[list[Family], str]] = in_thread(self._read, local=True)

    def _read(self) -> tuple[list[Family], str]:
        self._pids.update(self._running())
        try:
            vmstat = read_vmstat(self._procfs)
        except OSError as exc:
            vmstat, vmstat_error = {}, f"{self._procfs}/vmstat: {exc.strerror or exc}"
        else:
            vmstat_error = ""
        kmsg_error = self._read_kmsg()
        families = [*vmstat_families(vmstat), *event_families(self._events)]
        return families, "; ".join(e for e in (kmsg_error, vmstat_error) if e)

    def _read_kmsg(self) -> str:
        try:
            result = self._reader.read_new()
        except OSError as exc:
            error = f"kernel log {self._reader.path} unreadable: {exc.strerror or exc}"
            if not self._reported_unreadable:
                log.error("cannot read the kernel log; kernel event counters stay at 0",
                          extra={"path": self._reader.path, "err": exc.strerror or str(exc)})
                self._reported_unreadable = True
            return error
        self._events.records += len(result.records)
        self._events.lost += result.lost
        for record in result.records:
            if record.facility != KERNEL_FACILITY:
                continue  # written by a program: it must not pass for a kernel event
            event = classify(record.message)
            if event is not None:
                self._events.count(event, self._pids)
        return ""

    async def collect(self) -> list[Family]:
        families, error = await self._flight.run()
        if error:
            raise CollectorError(error, families)
        return families

    async def close(self) -> None:
        self._reader.close()


KMSG_PATH = Option("path.kmsg", "/dev/kmsg", "The kernel log device to read new records from.")


@register("kernel", default_enabled=True, options=[KMSG_PATH],
          description="OOM kills (with the VM named), hardware, block I/O, iSCSI and KVM errors "
          "from the kernel log and /proc/vmstat")
def create(settings: Settings, shared: Shared) -> KernelCollector:
    return KernelCollector(KMSG_PATH.of(settings), settings.path_procfs, shared.running_domains)
