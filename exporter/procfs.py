"""Numbers from procfs: host-wide CPU time by mode, load, memory, swap, PSI, vmstat, and a
process's `stat`, `io` and open descriptors (the QEMU collector's).

These are read from `--path.procfs` rather than through psutil: psutil finds procfs
through one process-global setting, while the exporter needs the host's procfs (possibly
mounted at /host/proc). The parsers are pure; the readers only open files.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

from exporter.sysfs import read_text

# /proc/stat cpu columns, in kernel order (USER_HZ ticks).
CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
PSI_RESOURCES = ("cpu", "memory", "io")


def _key_values(text: str) -> dict[str, int]:
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(" ")
        rest = rest.strip()
        if rest.lstrip("-").isdigit():
            values[key] = int(rest)
    return values


def parse_vmstat(text: str) -> dict[str, int]:
    return _key_values(text)


def read_vmstat(procfs: Path) -> dict[str, int]:
    return parse_vmstat(read_text(procfs / "vmstat"))


def parse_cpu_seconds(text: str, ticks_per_second: int) -> dict[str, float]:
    """The aggregate `cpu` line of /proc/stat -> seconds per mode (guest time is inside user)."""
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            ticks = [int(v) for v in fields[1:1 + len(CPU_MODES)]]
            return {mode: t / ticks_per_second for mode, t in zip(CPU_MODES, ticks, strict=False)}
    raise ValueError("no aggregate cpu line in /proc/stat")


def count_cpus(stat_text: str) -> int:
    return sum(1 for line in stat_text.splitlines() if line.startswith("cpu") and line[3:4].isdigit())


@dataclass(frozen=True)
class Load:
    load1: float
    load5: float
    load15: float
    runnable: int


def parse_loadavg(text: str) -> Load:
    """`0.52 0.58 0.59 3/1234 5678` -> load averages and runnable tasks."""
    fields = text.split()
    if len(fields) < 4 or "/" not in fields[3]:
        raise ValueError(f"unexpected /proc/loadavg: {text.strip()!r}")
    return Load(float(fields[0]), float(fields[1]), float(fields[2]), int(fields[3].split("/")[0]))


def parse_meminfo(text: str) -> dict[str, int]:
    """`MemTotal:  16315084 kB` -> {"MemTotal": 16706646016} (bytes; unitless rows as they are)."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        fields = rest.split()
        if not sep or not fields or not fields[0].isdigit():
            continue
        values[key] = int(fields[0]) * (1024 if fields[1:] == ["kB"] else 1)
    return values


@dataclass(frozen=True)
class Pressure:
    """Total stall time in seconds: some = at least one task waiting, full = all non-idle tasks."""

    some_seconds: float
    full_seconds: float | None


def parse_pressure(text: str) -> Pressure:
    """`some avg10=0.00 avg60=0.00 avg300=0.00 total=123` (microseconds) per line."""
    totals: dict[str, float] = {}
    for line in text.splitlines():
        kind, _, fields = line.partition(" ")
        for field in fields.split():
            if field.startswith("total="):
                totals[kind] = int(field.removeprefix("total=")) / 1e6
    if "some" not in totals:
        raise ValueError(f"no 'some' line in pressure file: {text.strip()!r}")
    return Pressure(totals["some"], totals.get("full"))


@dataclass(frozen=True)
class HostSample:
    cpu_seconds: dict[str, float]
    cpus: int
    load: Load
    memory: dict[str, int]
    pressure: dict[str, Pressure]


def read_pressure(procfs: Path) -> dict[str, Pressure]:
    """PSI per resource; empty where the kernel has none (older than 4.20, or psi=0)."""
    found = {}
    for resource in PSI_RESOURCES:
        try:
            found[resource] = parse_pressure(read_text(procfs / "pressure" / resource))
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            if exc.errno == errno.EOPNOTSUPP:  # built in but disabled (psi=0)
                continue
            raise
    return found


def read_host(procfs: Path, ticks_per_second: int) -> HostSample:
    stat = read_text(procfs / "stat")
    return HostSample(
        cpu_seconds=parse_cpu_seconds(stat, ticks_per_second),
        cpus=count_cpus(stat),
        load=parse_loadavg(read_text(procfs / "loadavg")),
        memory=parse_meminfo(read_text(procfs / "meminfo")),
        pressure=read_pressure(procfs),
    )


@dataclass(frozen=True)
class PidStat:
    """The figures of one process from `/proc/<pid>/stat` (times in clock ticks, rss in pages)."""

    state: str
    user_ticks: int
    system_ticks: int
    threads: int
    rss_pages: int
    start_ticks: int = 0  # when it started, in clock ticks after boot
    processor: int | None = None  # the CPU it last ran on (kernels since 2.2.8)


def parse_pid_stat(text: str) -> PidStat:
    """`/proc/<pid>/stat` (or a thread's `/proc/<pid>/task/<tid>/stat`). The command name
    (field 2) may hold spaces and parentheses, so the fields are counted from its last `)`."""
    end = text.rfind(")")
    fields = text[end + 2:].split() if end >= 0 else []
    numbers = (fields[11], fields[12], fields[17], fields[19], fields[21]) if len(fields) >= 22 else ()
    if not numbers or not all(f.lstrip("-").isdigit() for f in numbers):
        raise ValueError(f"not a /proc/<pid>/stat line: {text[:80]!r}")
    processor = fields[36] if len(fields) > 36 and fields[36].isdigit() else None
    return PidStat(fields[0], int(fields[11]), int(fields[12]), int(fields[17]), int(fields[21]),
                   int(fields[19]), int(processor) if processor is not None else None)


def parse_boot_time(text: str) -> int:
    """`btime` of `/proc/stat`: when the host booted, in seconds since the epoch."""
    for line in text.splitlines():
        if line.startswith("btime "):
            value = line.split()[1] if len(line.split()) == 2 else ""
            if value.isdigit():
                return int(value)
    raise ValueError("no btime line in /proc/stat")


def parse_pid_io(text: str) -> tuple[int, int]:
    """`/proc/<pid>/io`: (read_bytes, write_bytes), the bytes the process made storage move."""
    values = _key_values(text.replace(":", ""))
    if "read_bytes" not in values or "write_bytes" not in values:
        raise ValueError(f"not a /proc/<pid>/io file: {text[:80]!r}")
    return values["read_bytes"], values["write_bytes"]


def fd_dir_size_counts(procfs: Path) -> bool:
    """Whether `<procfs>/<pid>/fd` gives its number of open descriptors as its size (Linux >=
    6.2; older kernels say 0, a directory that is not procfs its own size): seen by opening a
    pipe, which adds two descriptors to this process's count."""
    own = f"{procfs}/{os.getpid()}/fd"
    try:
        before = os.stat(own).st_size
        read_end, write_end = os.pipe()
        try:
            after = os.stat(own).st_size
        finally:
            os.close(read_end)
            os.close(write_end)
    except OSError:  # this process is not in that procfs
        return False
    return before > 0 and after - before == 2


def count_open_fds(procfs: Path, pid: int, size_counts: bool) -> int:
    fd_dir = f"{procfs}/{pid}/fd"
    return os.stat(fd_dir).st_size if size_counts else len(os.listdir(fd_dir))
