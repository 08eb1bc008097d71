"""Which QEMU process runs which libvirt domain.

libvirt writes `<run dir>/<domain>.pid` for every running QEMU domain; the process's own
command line carries `-name guest=<domain>`, which confirms a pid file is not stale.
`PidIndex` remembers pids after their domain stopped, so a kernel OOM record that is read
after libvirt removed the pid file still names the domain.
"""

from __future__ import annotations

import itertools
import re
from collections import OrderedDict
from pathlib import Path
from xml.sax.saxutils import unescape

from exporter.sysfs import read_text

_UNITS = {"": 1 << 20, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SIZE = re.compile(r"^(\d+)([bkmgt]?)$", re.IGNORECASE)


def parse_pidfile(text: str) -> int | None:
    stripped = text.strip()
    return int(stripped) if stripped.isascii() and stripped.isdigit() and int(stripped) > 0 else None


def qemu_options(value: str) -> list[str]:
    """Split a QEMU option string at single commas; `,,` is an escaped comma in a value
    (`guest=a,,b,debug-threads=on` -> `guest=a,b`, `debug-threads=on`)."""
    options, current, i = [], [], 0
    while i < len(value):
        if value[i] == ",":
            if value.startswith(",,", i):
                current.append(",")
                i += 2
                continue
            options.append("".join(current))
            current = []
        else:
            current.append(value[i])
        i += 1
    options.append("".join(current))
    return options


def guest_name(argv: list[str]) -> str | None:
    """`-name guest=web,debug-threads=on` or the older `-name web` -> `web`."""
    for flag, value in itertools.pairwise(argv):
        if flag != "-name":
            continue
        options = qemu_options(value)
        for option in options:
            if option.startswith("guest="):
                return option.removeprefix("guest=")
        if options and "=" not in options[0]:
            return options[0]
    return None


def pidfile_domain(filename: str) -> str:
    """The domain a pid file is named for. libvirt 9 writes the name XML-escaped
    (`q&quot;uote&apos;s.pid` for `q"uote's`, `a&amp;b.pid` for `a&b`)."""
    return unescape(filename.removesuffix(".pid"), {"&quot;": '"', "&apos;": "'"})


def guest_memory_bytes(argv: list[str]) -> int | None:
    """Guest RAM from `-m 128`, `-m 512M` or `-m size=131072k,slots=16,maxmem=...` (default unit MiB)."""
    for flag, value in itertools.pairwise(argv):
        if flag != "-m":
            continue
        size = value.split(",", 1)[0].removeprefix("size=")
        match = _SIZE.match(size)
        if match:
            return int(match.group(1)) * _UNITS[match.group(2).lower()]
    return None


def read_cmdline(procfs: Path, pid: int) -> list[str] | None:
    try:
        raw = (procfs / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    return raw.decode("utf-8", "replace").rstrip("\0").split("\0") if raw else None


class RunningDomains:
    """domain -> pid of its QEMU process, for pid files whose process runs that domain.

    A pid's command line is read once, when its pid file first names it; later rounds only
    check that the process still exists (a stat), not its command line again.
    """

    def __init__(self, run_dir: Path, procfs: Path) -> None:
        self._run_dir = run_dir
        self._procfs = procfs
        self._confirmed: dict[tuple[str, int], bool] = {}

    def read(self) -> dict[str, int]:
        found: dict[str, int] = {}
        seen: set[tuple[str, int]] = set()
        try:
            pidfiles = sorted(self._run_dir.glob("*.pid"))
        except OSError:
            return found
        for pidfile in pidfiles:
            domain = pidfile_domain(pidfile.name)
            if domain == "driver":  # libvirt's own virtqemud/libvirtd pid lives here too
                continue
            try:
                pid = parse_pidfile(read_text(pidfile))
            except (OSError, UnicodeDecodeError):
                continue
            if pid is None or not (self._procfs / str(pid)).exists():
                continue
            key = (domain, pid)
            seen.add(key)
            if key not in self._confirmed:
                argv = read_cmdline(self._procfs, pid)
                self._confirmed[key] = argv is not None and guest_name(argv) == domain
            if self._confirmed[key]:
                found[domain] = pid
        for gone in self._confirmed.keys() - seen:
            del self._confirmed[gone]
        return found


class PidIndex:
    """pid -> domain for current and recently stopped domains (bounded)."""

    def __init__(self, remembered: int = 4096) -> None:
        self._domains: OrderedDict[int, str] = OrderedDict()
        self._remembered = remembered

    def update(self, running: dict[str, int]) -> None:
        for domain, pid in running.items():
            self._domains[pid] = domain
            self._domains.move_to_end(pid)
        while len(self._domains) > self._remembered:
            self._domains.popitem(last=False)

    def domain(self, pid: int) -> str | None:
        return self._domains.get(pid)
