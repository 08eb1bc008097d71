"""The process collector (fault exporter_health), the exporter's own process: CPU, memory,
file descriptors, threads (like Go's process_*)."""

from __future__ import annotations

from dataclasses import dataclass

import psutil

from exporter.collector import ThreadedCollector, register
from exporter.metrics import Family, counter, gauge, single
from exporter.settings import Settings
from exporter.shared import Shared


@dataclass(frozen=True)
class ProcessSample:
    cpu_seconds: float
    rss_bytes: int
    vms_bytes: int
    open_fds: int
    max_fds: int
    threads: int
    start_time: float


def sample_process(process: psutil.Process) -> ProcessSample:
    with process.oneshot():
        cpu = process.cpu_times()
        memory = process.memory_info()
        soft_limit = process.rlimit(psutil.RLIMIT_NOFILE)[0]
        return ProcessSample(cpu.user + cpu.system, memory.rss, memory.vms, process.num_fds(),
                             soft_limit, process.num_threads(), process.create_time())


def process_families(sample: ProcessSample) -> list[Family]:
    p = "exporter_process_"
    return [
        single(counter(p + "cpu_seconds", "User and system CPU time the exporter used, in seconds."),
               sample.cpu_seconds),
        single(gauge(p + "resident_memory_bytes", "Resident memory of the exporter, in bytes."),
               sample.rss_bytes),
        single(gauge(p + "virtual_memory_bytes", "Virtual memory of the exporter, in bytes."),
               sample.vms_bytes),
        single(gauge(p + "open_fds", "File descriptors the exporter has open."), sample.open_fds),
        single(gauge(p + "max_fds", "Limit on open file descriptors of the exporter."), sample.max_fds),
        single(gauge(p + "threads", "Threads of the exporter process."), sample.threads),
        single(gauge(p + "start_time_seconds", "When the exporter started, as a Unix timestamp."),
               sample.start_time),
    ]


class ProcessCollector(ThreadedCollector[ProcessSample]):
    name = "process"

    def __init__(self, process: psutil.Process | None = None) -> None:
        watched = process or psutil.Process()
        super().__init__(lambda: sample_process(watched), process_families)


@register("process", default_enabled=True,
          description="the exporter's own CPU, memory, file descriptors and threads")
def create(_settings: Settings, _shared: Shared) -> ProcessCollector:
    return ProcessCollector()
