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
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG

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


SWEEP_SECONDS = 60.0  # every log is looked at this often; a running domain's at every poll


class LogTailer:
    """Follows every `<domain>.log` of a directory. Given the running domains, a poll looks at
    their logs, those of domains seen running within the last minute (the lines libvirt writes
    as a QEMU dies) and new files only, and at every log once a minute: the directory keeps
    the logs of every domain the host ever ran (thousands here; a stat each is ~4 us), and a
    log whose QEMU is gone does not grow."""

    def __init__(self, directory: Path, suffix: str = ".log",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.directory = directory
        self._suffix = suffix
        self._clock = clock
        self._positions: dict[str, _Position] = {}
        self._started = False
        self._names: list[str] = []
        self._listed_at: int | None = None  # the directory's mtime (ns) when it was listed
        self._hot: dict[str, float] = {}  # log name -> when its domain was last seen running
        self._swept = -SWEEP_SECONDS

    def poll(self, running: Collection[str] | None = None) -> dict[str, list[str]]:
        """New complete lines per domain since the last poll (of every log when `running`,
        the domains whose QEMU runs, is not given)."""
        now = self._clock()
        sweep = running is None or now - self._swept >= SWEEP_SECONDS
        names = self._list(force=sweep)
        if sweep:
            self._swept = now
            wanted = list(names)
        else:
            wanted = [name for name in names if name in self._hot or name not in self._positions]
        if running is not None:
            for domain in running:
                self._hot[domain + self._suffix] = now
            self._hot = {name: seen for name, seen in self._hot.items() if now - seen < SWEEP_SECONDS}
            wanted += [name for name in self._hot if name not in self._positions and name not in wanted]
        lines: dict[str, list[str]] = {}
        present = set(names)
        base = str(self.directory)
        for name in wanted:
            try:
                stat = os.stat(f"{base}/{name}")
            except FileNotFoundError:
                continue
            if not S_ISREG(stat.st_mode):
                continue
            present.add(name)
            new = self._poll_file(name, stat)
            if new:
                lines[name.removesuffix(self._suffix)] = new
        for gone in self._positions.keys() - present:
            del self._positions[gone]
        self._started = True
        return lines

    def _list(self, *, force: bool) -> list[str]:
        """The logs of the directory, listed again only when it changed (and on a sweep: its
        mtime may not move for a file created within the same clock tick as the listing)."""
        changed = os.stat(self.directory).st_mtime_ns
        if force or changed != self._listed_at:
            self._names = [entry.name for entry in os.scandir(self.directory)
                           if entry.name.endswith(self._suffix) and entry.is_file()]
            self._listed_at = changed
        return self._names

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
