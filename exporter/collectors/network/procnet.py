"""Routing-loop and storm signals (faults routing_loop, traffic_storm) from procfs:
/proc/net/snmp, /proc/net/softnet_stat and the conntrack table size. Parsers are pure;
`read_procnet` only opens files."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from exporter.sysfs import read_text

# (protocol, field) of /proc/net/snmp that the exporter serves as counters
SNMP_FIELDS = (
    ("Icmp", "InTimeExcds"), ("Icmp", "OutTimeExcds"), ("Icmp", "InDestUnreachs"),
    ("Icmp", "OutDestUnreachs"), ("Icmp", "InRedirects"), ("Icmp", "OutRedirects"),
    ("Ip", "ForwDatagrams"), ("Ip", "InAddrErrors"), ("Ip", "OutNoRoutes"), ("Ip", "InHdrErrors"),
    ("Ip", "InReceives"), ("Ip", "InDiscards"), ("Ip", "OutDiscards"),
)


def parse_snmp(text: str) -> dict[tuple[str, str], int]:
    """`Proto: Name1 Name2` / `Proto: 1 2` line pairs -> {(proto, name): value}."""
    values: dict[tuple[str, str], int] = {}
    lines = text.splitlines()
    for header, data in zip(lines[::2], lines[1::2], strict=False):
        proto, _, names = header.partition(":")
        data_proto, _, numbers = data.partition(":")
        if proto != data_proto:
            raise ValueError(f"/proc/net/snmp: header {proto!r} followed by {data_proto!r}")
        for name, number in zip(names.split(), numbers.split(), strict=True):
            values[(proto, name)] = int(number)
    return values


@dataclass(frozen=True)
class Softnet:
    cpu: int
    processed: int
    dropped: int
    time_squeezed: int


# /proc/net/dev columns, named as node_exporter's netdev collector names them
NET_DEV_COLUMNS = (
    "receive_bytes", "receive_packets", "receive_errs", "receive_drop", "receive_fifo", "receive_frame",
    "receive_compressed", "receive_multicast", "transmit_bytes", "transmit_packets", "transmit_errs",
    "transmit_drop", "transmit_fifo", "transmit_colls", "transmit_carrier", "transmit_compressed",
)


def parse_net_dev(text: str) -> dict[str, dict[str, int]]:
    """/proc/net/dev: every interface's counters in one read (two header lines, then
    `name: 16 numbers`)."""
    devices = {}
    for line in text.splitlines()[2:]:
        name, sep, numbers = line.partition(":")
        values = numbers.split()
        if not sep or len(values) != len(NET_DEV_COLUMNS) or not all(v.isdigit() for v in values):
            raise ValueError(f"/proc/net/dev: unexpected line {line.strip()[:60]!r}")
        devices[name.strip()] = dict(zip(NET_DEV_COLUMNS, map(int, values), strict=True))
    return devices


def parse_softnet(text: str) -> list[Softnet]:
    """One hex row per CPU: processed, dropped, time_squeeze, ...; the CPU is the row index
    (column 13 on kernels >= 5.10 names it, rows of offline CPUs are left out)."""
    rows = []
    for index, line in enumerate(text.splitlines()):
        columns = [int(v, 16) for v in line.split()]
        if len(columns) < 3:
            raise ValueError(f"softnet_stat row {index} has {len(columns)} columns")
        cpu = columns[12] if len(columns) >= 13 else index
        rows.append(Softnet(cpu, columns[0], columns[1], columns[2]))
    return rows


@dataclass
class ProcNet:
    snmp: dict[tuple[str, str], int] = field(default_factory=dict)
    dev: dict[str, dict[str, int]] = field(default_factory=dict)
    softnet: list[Softnet] = field(default_factory=list)
    conntrack_entries: int | None = None
    conntrack_limit: int | None = None


def _optional_int(path: Path) -> int | None:
    try:
        return int(read_text(path).strip())
    except (FileNotFoundError, ValueError):
        return None


def read_procnet(procfs: Path) -> ProcNet:
    """Raises OSError/ValueError if /proc/net/snmp is missing or garbled; the rest is optional."""
    result = ProcNet(snmp=parse_snmp(read_text(procfs / "net" / "snmp")))
    with contextlib.suppress(FileNotFoundError):
        result.dev = parse_net_dev(read_text(procfs / "net" / "dev"))
    with contextlib.suppress(FileNotFoundError):
        result.softnet = parse_softnet(read_text(procfs / "net" / "softnet_stat"))
    netfilter = procfs / "sys" / "net" / "netfilter"
    result.conntrack_entries = _optional_int(netfilter / "nf_conntrack_count")
    result.conntrack_limit = _optional_int(netfilter / "nf_conntrack_max")
    return result
