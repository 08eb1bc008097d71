"""Routing-loop and storm signals from procfs: /proc/net/snmp, /proc/net/softnet_stat and
the conntrack table size. Parsers are pure; `read_procnet` only opens files."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

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
    softnet: list[Softnet] = field(default_factory=list)
    conntrack_entries: int | None = None
    conntrack_limit: int | None = None


def _optional_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def read_procnet(procfs: Path) -> ProcNet:
    """Raises OSError/ValueError if /proc/net/snmp is missing or garbled; the rest is optional."""
    result = ProcNet(snmp=parse_snmp((procfs / "net" / "snmp").read_text()))
    with contextlib.suppress(FileNotFoundError):
        result.softnet = parse_softnet((procfs / "net" / "softnet_stat").read_text())
    netfilter = procfs / "sys" / "net" / "netfilter"
    result.conntrack_entries = _optional_int(netfilter / "nf_conntrack_count")
    result.conntrack_limit = _optional_int(netfilter / "nf_conntrack_max")
    return result
