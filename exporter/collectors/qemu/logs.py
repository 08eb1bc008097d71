"""QEMU's per-domain logs (fault domain_failure) (`<dir>/<domain>.log`): new lines only, across log rotation.

`classify_line` is pure. `LogTailer` remembers an (inode, offset) per file: files present
when the exporter starts are read from their end (old errors were handled before us),
files that appear later from their start. A renamed-away log (`<domain>.log.1` with the
inode we were reading) is finished before the new file is read; a truncated one
(logrotate's copytruncate, libvirt's default) is read again from its start.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

KINDS = ("device_error", "io_error", "migration_failure", "terminated_by_signal")

_PATTERNS = (
    ("migration_failure", re.compile(r"migrat\w*.*(fail|error|cancel)|load of migration failed|"
                                     r"error while loading state", re.IGNORECASE)),
    ("io_error", re.compile(r"I/O error|Input/output error|No space left on device", re.IGNORECASE)),
    ("terminated_by_signal", re.compile(r"terminating on signal")),
    ("device_error", re.compile(r"failed to (add|bind|attach|realize|open|set ?up|claim|get)|"
                                r"could not open|vfio.*(error|fail)|duplicate id|device_add|"
                                r"bus '[^']*' not found|property '[^']*' not found|"
                                r"hotplug.*(fail|error)", re.IGNORECASE)),
)

MAX_READ = 16 << 20  # per file per poll; the rest waits for the next poll
MAX_LINE = 64 << 10  # a "line" longer than this without a newline is taken as it is


def classify_line(line: str) -> str | None:
    for kind, pattern in _PATTERNS:
        if pattern.search(line):
            return kind
    return None


@dataclass
class _Position:
    inode: int
    offset: int


def _read_lines(path: Path, offset: int) -> tuple[list[str], int]:
    """Complete lines from `offset`, and the offset after the last complete line."""
    with path.open("rb") as handle:
        handle.seek(offset)
        data = handle.read(MAX_READ)
    end = data.rfind(b"\n") + 1
    if end == 0 and len(data) >= MAX_LINE:
        end = len(data)
    return data[:end].decode("utf-8", "replace").splitlines(), offset + end


class LogTailer:
    def __init__(self, directory: Path, suffix: str = ".log") -> None:
        self.directory = directory
        self._suffix = suffix
        self._positions: dict[str, _Position] = {}
        self._started = False

    def poll(self) -> dict[str, list[str]]:
        """New complete lines per domain since the last poll."""
        found: dict[str, os.stat_result] = {}
        for entry in os.scandir(self.directory):
            if entry.name.endswith(self._suffix) and entry.is_file():
                found[entry.name] = entry.stat()
        lines: dict[str, list[str]] = {}
        for name, stat in found.items():
            new = self._poll_file(name, stat)
            if new:
                lines[name.removesuffix(self._suffix)] = new
        for gone in self._positions.keys() - found.keys():
            del self._positions[gone]
        self._started = True
        return lines

    def _poll_file(self, name: str, stat: os.stat_result) -> list[str]:
        position = self._positions.get(name)
        if position is None:
            position = _Position(stat.st_ino, stat.st_size if not self._started else 0)
            self._positions[name] = position
            if not self._started:
                return []
        if position.inode == stat.st_ino and stat.st_size == position.offset:
            return []  # the common case, a log that did not move: no path made
        path = self.directory / name
        lines: list[str] = []
        if position.inode != stat.st_ino:
            lines += self._finish_rotated(path, position)
            position.inode, position.offset = stat.st_ino, 0
        elif stat.st_size < position.offset:
            position.offset = 0
        if stat.st_size > position.offset:
            try:
                new, position.offset = _read_lines(path, position.offset)
            except OSError:
                return lines
            lines += new
        return lines

    @staticmethod
    def _finish_rotated(path: Path, position: _Position) -> list[str]:
        rotated = path.with_name(path.name + ".1")
        try:
            if rotated.stat().st_ino != position.inode:
                return []
            return _read_lines(rotated, position.offset)[0]
        except OSError:
            return []
