"""ZFS pools (faults zfs_pool, recovery_point): `zpool status` (JSON on OpenZFS >= 2.3, else
the text form), `zpool get -Hp` properties, `zfs list` snapshots, and the kstat files under
/proc/spl/kstat/zfs.

All parsers are pure and raise ValueError on output they cannot read.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from exporter.sysfs import read_text

T = TypeVar("T")

POOL_STATES = ("ONLINE", "DEGRADED", "FAULTED", "OFFLINE", "UNAVAIL", "REMOVED", "SUSPENDED")
PROPERTIES = ("size", "allocated", "free", "fragmentation", "capacity", "dedupratio", "readonly",
              "autotrim", "ashift")
VDEV_SECTIONS = ("logs", "cache", "l2cache", "spares", "special", "dedup")

STATUS_JSON_ARGS = ["status", "-j", "--json-int", "-p"]
STATUS_TEXT_ARGS = ["status", "-p"]
GET_ARGS = ["get", "-Hp", ",".join(PROPERTIES)]
SNAPSHOT_ARGS = ["list", "-Hp", "-t", "snapshot", "-o", "name,creation"]


@dataclass
class Vdev:
    name: str
    type: str
    parent: str
    state: str
    read_errors: int | None
    write_errors: int | None
    checksum_errors: int | None


@dataclass
class Scan:
    function: str  # scrub, resilver
    state: str  # scanning, finished, canceled
    start_time: float | None
    end_time: float | None
    errors: int | None
    progress: float | None


@dataclass
class PoolStatus:
    name: str
    state: str
    vdevs: list[Vdev] = field(default_factory=list)
    scan: Scan | None = None
    data_errors: int | None = None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _scan_from_json(stats: dict[str, Any]) -> Scan:
    to_examine = _int(stats.get("to_examine"))
    examined = _int(stats.get("issued")) or _int(stats.get("examined"))
    state = str(stats.get("state", "")).lower()
    progress = None
    if state == "scanning" and to_examine and examined is not None:
        progress = min(examined / to_examine, 1.0)
    elif state == "finished":
        progress = 1.0
    start, end = _timestamp(stats.get("start_time")), _timestamp(stats.get("end_time"))
    return Scan(str(stats.get("function", "")).lower(), state, start,
                end if state != "scanning" else None, _int(stats.get("errors")), progress)


def _timestamp(value: Any) -> float | None:
    """Unix seconds (`--json-int`) or the date text of plain `-j` output."""
    number = _int(value)
    if number is not None:
        return float(number) if number else None
    return _when(value) if isinstance(value, str) else None


def _vdevs_from_json(children: dict[str, Any], parent: str, out: list[Vdev]) -> None:
    for name, vdev in children.items():
        if not isinstance(vdev, dict):
            continue
        out.append(Vdev(str(vdev.get("name", name)), str(vdev.get("vdev_type", "")), parent,
                        str(vdev.get("state", "")), _int(vdev.get("read_errors")),
                        _int(vdev.get("write_errors")), _int(vdev.get("checksum_errors"))))
        if isinstance(vdev.get("vdevs"), dict):
            _vdevs_from_json(vdev["vdevs"], str(vdev.get("name", name)), out)


def parse_status_json(text: str) -> list[PoolStatus]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"zpool status -j: not JSON ({exc})") from exc
    pools = document.get("pools") if isinstance(document, dict) else None
    if not isinstance(pools, dict):
        raise ValueError("zpool status -j: no pools object")
    result = []
    for name, pool in sorted(pools.items()):
        if not isinstance(pool, dict):
            raise ValueError(f"zpool status -j: pool {name!r} is not an object")
        status = PoolStatus(str(pool.get("name", name)), str(pool.get("state", "")))
        vdevs: list[Vdev] = []
        if isinstance(pool.get("vdevs"), dict):
            _vdevs_from_json(pool["vdevs"], "", vdevs)
        for section in VDEV_SECTIONS:
            if isinstance(pool.get(section), dict):
                _vdevs_from_json(pool[section], section, vdevs)
        status.vdevs = vdevs
        if isinstance(pool.get("scan_stats"), dict):
            status.scan = _scan_from_json(pool["scan_stats"])
        status.data_errors = _int(pool.get("error_count"))
        result.append(status)
    return result


_SCAN_FINISHED = re.compile(r"(scrub|resilver)(?:ed)? (?:repaired )?.*? with (\d+) errors on (.+)$")
_SCAN_RUNNING = re.compile(r"(scrub|resilver) in progress since (.+)$")
_SCAN_CANCELED = re.compile(r"(scrub|resilver) canceled on (.+)$")
_PERCENT = re.compile(r"([\d.]+)% done")


def _when(text: str) -> float | None:
    """`Sat Feb 10 20:34:42 2024` (zpool prints local time; a zone name before the year, as
    in `... 08:00:01 CET 2025`, is dropped and the time read as local)."""
    text = re.sub(r"(\d\d:\d\d:\d\d) [A-Z]{2,5} (\d{4})$", r"\1 \2", text.strip())
    try:
        return time.mktime(time.strptime(text, "%a %b %d %H:%M:%S %Y"))
    except ValueError:
        return None


def _scan_from_text(lines: list[str]) -> Scan | None:
    first = lines[0] if lines else ""
    if match := _SCAN_RUNNING.search(first):
        progress = None
        for line in lines[1:]:
            if percent := _PERCENT.search(line):
                progress = float(percent.group(1)) / 100
        return Scan(match.group(1), "scanning", _when(match.group(2)), None, None, progress)
    if match := _SCAN_FINISHED.search(first):
        function = "resilver" if first.startswith("resilver") else "scrub"
        return Scan(function, "finished", None, _when(match.group(3)), int(match.group(2)), 1.0)
    if match := _SCAN_CANCELED.search(first):
        return Scan(match.group(1), "canceled", None, _when(match.group(2)), None, None)
    return None


def _text_vdev_type(name: str, section: str) -> str:
    """`mirror-0` -> mirror, `raidz2-1` -> raidz2, `draid1:7d:8c:0s-0` -> draid1; else a disk."""
    if match := re.match(r"(mirror|raidz\d?|draid\d?)\S*-\d+$", name):
        return match.group(1)
    return "spare" if section == "spares" else "disk"


def _config_vdevs(lines: list[str], pool: str) -> list[Vdev]:
    """The `config:` table: indentation gives the tree; section headers (logs, cache, ...)
    have no state column."""
    vdevs: list[Vdev] = []
    stack: list[tuple[int, str]] = []
    section = ""
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("NAME"):
            continue
        indent = len(line.expandtabs(8)) - len(line.expandtabs(8).lstrip())
        fields = stripped.split()
        if len(fields) == 1 and fields[0] in VDEV_SECTIONS:
            section, stack = fields[0], [(indent, fields[0])]
            continue
        if len(fields) < 2:
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1] if stack else ""
        name, state = fields[0], fields[1]
        counts = [int(f) if f.isdigit() else None for f in fields[2:5]] + [None] * 3
        is_root = name == pool and not stack and not section
        vdev_type = "root" if is_root else _text_vdev_type(name, section)
        vdevs.append(Vdev(name, vdev_type, parent or section, state, counts[0], counts[1], counts[2]))
        stack.append((indent, name))
    return vdevs


def parse_status_text(text: str) -> list[PoolStatus]:
    pools = []
    blocks = re.split(r"^\s*pool: ", text, flags=re.M)[1:]
    if not blocks and text.strip() and "no pools available" not in text:
        raise ValueError("zpool status: no 'pool:' line")
    for block in blocks:
        lines = block.splitlines()
        if not lines or not lines[0].strip():
            raise ValueError("zpool status: a 'pool:' line without a name")
        status = PoolStatus(lines[0].strip(), "")
        scan_lines: list[str] = []
        config: list[str] = []
        current = ""
        for line in lines[1:]:
            key = re.match(r"^\s*(state|scan|config|errors|status|action|see):\s?(.*)$", line)
            if key:
                current = key.group(1)
                value = key.group(2)
                if current == "state":
                    status.state = value.strip()
                elif current == "scan":
                    scan_lines = [value.strip()]
                elif current == "errors":
                    match = re.match(r"(\d+) data errors", value.strip())
                    status.data_errors = int(match.group(1)) if match else 0
                continue
            if current == "scan":
                scan_lines.append(line.strip())
            elif current == "config":
                config.append(line)
        if not status.state:
            raise ValueError(f"zpool status: pool {status.name!r} has no state")
        status.scan = _scan_from_text(scan_lines)
        status.vdevs = _config_vdevs(config, status.name)
        pools.append(status)
    return pools


def parse_get(text: str) -> dict[str, dict[str, str]]:
    """`zpool get -Hp`: `pool<TAB>property<TAB>value<TAB>source` -> {pool: {property: value}}."""
    pools: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 3:
            raise ValueError(f"zpool get: unexpected line {line[:60]!r}")
        pools.setdefault(fields[0], {})[fields[1]] = fields[2]
    return pools


def property_value(name: str, value: str) -> float | None:
    """Numbers as Prometheus wants them: percentages as ratios, on/off as 1/0, `1.00x` as 1.0."""
    value = value.strip()
    if value in ("-", ""):
        return None
    if name in ("readonly", "autotrim"):
        return {"on": 1.0, "off": 0.0}.get(value)
    if name in ("fragmentation", "capacity"):
        number = value.rstrip("%")
        return float(number) / 100 if re.fullmatch(r"\d+(\.\d+)?", number) else None
    number = value.rstrip("x")
    return float(number) if re.fullmatch(r"\d+(\.\d+)?", number) else None


def parse_snapshots(text: str) -> dict[str, tuple[int, float]]:
    """`zfs list -Hp -t snapshot -o name,creation` -> {dataset: (count, newest creation)}."""
    datasets: dict[str, tuple[int, float]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, _, created = line.partition("\t")
        dataset, at, _snapshot = name.partition("@")
        if not at or not created.strip().isdigit():
            raise ValueError(f"zfs list: unexpected line {line[:60]!r}")
        count, newest = datasets.get(dataset, (0, 0.0))
        datasets[dataset] = (count + 1, max(newest, float(created)))
    return datasets


def parse_kstat(text: str) -> dict[str, int | str]:
    """A kstat file: header line, `name type data` line, then rows; type 7 is a string."""
    lines = text.splitlines()
    if len(lines) < 2 or not lines[1].split()[:3] == ["name", "type", "data"]:
        raise ValueError("kstat: no 'name type data' header")
    values: dict[str, int | str] = {}
    for line in lines[2:]:
        fields = line.split(None, 2)
        if len(fields) < 3:
            continue
        name, kind, data = fields
        if kind == "7":
            values[name] = data.strip()
        elif re.fullmatch(r"-?\d+", data.strip()):
            values[name] = int(data)
    return values


def parse_kstat_io(text: str) -> dict[str, int]:
    """The KSTAT_TYPE_IO file `<pool>/io` (OpenZFS < 2.1): a row of names, a row of values."""
    lines = [line for line in text.splitlines()[1:] if line.strip()]
    if len(lines) < 2:
        raise ValueError("kstat io: expected a names row and a values row")
    names, values = lines[0].split(), lines[1].split()
    if len(names) != len(values) or not all(v.isdigit() for v in values):
        raise ValueError("kstat io: names and values do not match")
    return dict(zip(names, map(int, values), strict=True))


@dataclass
class Kstats:
    arc: dict[str, int | str] = field(default_factory=dict)
    pool_io: dict[str, dict[str, int]] = field(default_factory=dict)  # pool -> io/iostats counters
    datasets: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)  # (pool, dataset)
    errors: int = 0  # kstat files that could not be parsed (skipped)


def read_kstats(directory: Path) -> Kstats:
    """Raises OSError if the kstat directory is missing (no ZFS module); a file that does not
    parse is skipped and counted."""
    kstats = Kstats()

    def parsed(path: Path, parse: Callable[[str], T]) -> T | None:
        try:
            return parse(read_text(path))
        except (OSError, ValueError, UnicodeDecodeError):
            kstats.errors += 1
            return None

    if (directory / "arcstats").exists():
        kstats.arc = parsed(directory / "arcstats", parse_kstat) or {}
    for pool_dir in sorted(p for p in directory.iterdir() if p.is_dir()):
        io: dict[str, int] = {}
        if (pool_dir / "io").exists():
            io.update(parsed(pool_dir / "io", parse_kstat_io) or {})
        if (pool_dir / "iostats").exists():
            values = parsed(pool_dir / "iostats", parse_kstat) or {}
            io.update({k: v for k, v in values.items() if isinstance(v, int)})
        if io:
            kstats.pool_io[pool_dir.name] = io
        for objset in sorted(pool_dir.glob("objset-*")):
            values = parsed(objset, parse_kstat) or {}
            dataset = values.get("dataset_name")
            if isinstance(dataset, str):
                kstats.datasets[(pool_dir.name, dataset)] = {
                    k: v for k, v in values.items() if isinstance(v, int)}
    return kstats
