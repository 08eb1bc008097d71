"""The kernel log (fault process_oom): reading new /dev/kmsg records and classifying the
ones other layers need.

`parse_record` and `classify` are pure; `KmsgReader` owns the file descriptor. Only new
records count: the reader starts at the end of the ring buffer, so a restarted exporter
never counts an old OOM kill again (a counter that jumped on restart would fire alerts
for events that were already handled).
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Record:
    sequence: int
    facility: int  # 0 is the kernel; records written to /dev/kmsg by programs are >= 1
    message: str


@dataclass(frozen=True)
class KernelEvent:
    """One classified record. `labels` are bounded by construction (kinds, codes, devices)."""

    kind: str
    labels: tuple[str, ...] = ()
    count: int = 1
    pid: int = 0
    memcg: str = ""


def parse_record(raw: bytes) -> Record | None:
    """`prio,seq,usec,flags[,...];message\\n[ KEY=value\\n...]` -> the first message line."""
    text = raw.decode("utf-8", "replace")
    header, sep, body = text.partition(";")
    fields = header.split(",")
    if not sep or len(fields) < 3 or not fields[0].isdigit() or not fields[1].isdigit():
        return None
    return Record(int(fields[1]), int(fields[0]) >> 3, body.split("\n", 1)[0])


_OOM_KILLED = re.compile(r"Killed process (\d+) \(([^)]*)\)")
_OOM_CONTEXT = re.compile(r"oom-kill:.*?task_memcg=([^,]*),task=[^,]*,pid=(\d+)")
_MCE = re.compile(r"mce: \[Hardware Error\]")
_EDAC = re.compile(r"EDAC MC\d+: (\d+) (CE|UE) ")
# The block layer's request errors ("I/O error", "critical medium error", "timeout error",
# ... ", dev sda, sector N"); filesystem "Buffer I/O error" lines repeat the same failure.
_BLOCK_ERROR = re.compile(r" error, dev ([\w.-]+), sector")
_ISCSI_CONN = re.compile(r"connection\d+:\d+: detected conn error \((\d+)\)")
_ISCSI_RECOVERY = re.compile(r"session\d+: session recovery timed out")
_KVM_INIT = re.compile(r"kvm(?:_intel|_amd)?: (disabled by bios|no hardware support|"
                       r"support for '\w+' disabled by bios|VMX not supported|SVM not supported)")


def _kvm_reason(text: str) -> str:
    return "disabled_by_bios" if "disabled by bios" in text else text.replace(" ", "_").lower()


def classify(message: str) -> KernelEvent | None:
    """The event a kernel message reports, or None for messages nobody alerts on."""
    if match := _OOM_KILLED.search(message):
        return KernelEvent("oom_kill", (match.group(2),), pid=int(match.group(1)))
    if match := _OOM_CONTEXT.search(message):
        return KernelEvent("oom_context", pid=int(match.group(2)), memcg=match.group(1))
    if _MCE.search(message):
        return KernelEvent("hardware_error", ("mce",))
    if match := _EDAC.search(message):
        kind = "edac_corrected" if match.group(2) == "CE" else "edac_uncorrected"
        return KernelEvent("hardware_error", (kind,), count=int(match.group(1)))
    if match := _BLOCK_ERROR.search(message):
        return KernelEvent("block_io_error", (match.group(1),))
    if match := _ISCSI_CONN.search(message):
        return KernelEvent("iscsi_connection_error", (match.group(1),))
    if _ISCSI_RECOVERY.search(message):
        return KernelEvent("iscsi_session_recovery_timeout")
    if match := _KVM_INIT.search(message):
        return KernelEvent("kvm_init_failure", (_kvm_reason(match.group(1)),))
    return None


_MACHINE_SCOPE = re.compile(r"qemu-\d+-(.+?)(?:\.scope|\.libvirt-qemu|/|$)")


def domain_from_memcg(memcg: str) -> str:
    """`/machine.slice/machine-qemu\\x2d33\\x2dRHEL7\\x2d9\\x2d4.scope` -> `RHEL7-9-4`.

    libvirt names a domain's cgroup `qemu-<id>-<name>` (systemd escapes `-` as `\\x2d`);
    the name may be shortened there, so this is the fallback when the pid is unknown.
    """
    match = _MACHINE_SCOPE.search(memcg.replace("\\x2d", "-"))
    return match.group(1) if match else ""


MAX_RECORD = 8192


@dataclass
class ReadResult:
    records: list[Record]
    lost: int


class KmsgReader:
    """Non-blocking reads of /dev/kmsg, keeping its position across scrapes.

    Each read() returns one record. EPIPE means the ring buffer wrapped past our position:
    the kernel moves us to the oldest record it still has, and the gap in sequence numbers
    says how many we lost.
    """

    def __init__(self, path: str, fd: int | None = None) -> None:
        self.path = path
        self._fd = fd
        self._next_sequence: int | None = None

    def open(self) -> None:
        """Open at the end of the log (raises OSError if the log cannot be read)."""
        fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            os.lseek(fd, 0, os.SEEK_END)
        except OSError:
            os.close(fd)
            raise
        self._fd = fd

    def read_new(self, limit: int = 100_000) -> ReadResult:
        if self._fd is None:
            self.open()
        assert self._fd is not None
        records: list[Record] = []
        lost = 0
        while len(records) < limit:
            try:
                raw = os.read(self._fd, MAX_RECORD)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EPIPE:
                    continue  # position moved to the oldest record; the sequence gap counts it
                if exc.errno == errno.EINVAL:
                    continue  # a record longer than our buffer: skipped by the kernel
                raise
            if not raw:
                break
            record = parse_record(raw)
            if record is None:
                continue
            if self._next_sequence is not None and record.sequence > self._next_sequence:
                lost += record.sequence - self._next_sequence
            self._next_sequence = record.sequence + 1
            records.append(record)
        return ReadResult(records, lost)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
