"""Loaders that turn the captured libvirt fixtures into the dicts libvirt-python returns."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from exporter.libvirt.domxml import parse_domain_xml
from exporter.libvirt.snapshot import DomainRecord, HostInfo

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
LIBVIRT_FIXTURES = FIXTURES / "libvirt"
SYSFS = FIXTURES / "sysfs" / "sys"
HOST = HostInfo("x86_64", 32, 2400, 2, 2, 8, 2, 128 * 2**30, 64 * 2**30, "9.0.0", "QEMU", "7.2.0")


def _typed(value: str) -> Any:
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    if re.fullmatch(r"-?\d+\.\d+", value):
        return float(value)
    return value


def parse_virsh_domstats(text: str) -> dict[str, dict[str, Any]]:
    """`virsh domstats` output -> {domain name: typed-parameter dict}."""
    domains: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] = {}
    for line in text.splitlines():
        match = re.match(r"Domain: '(.*)'$", line)
        if match:
            current = domains.setdefault(match.group(1), {})
        elif "=" in line:
            key, _, value = line.strip().partition("=")
            current[key] = _typed(value)
    return domains


_GO_BLOCK = {"Name": "name", "Path": "path", "BackingIndex": "backingIndex", "RdReqs": "rd.reqs",
             "RdBytes": "rd.bytes", "RdTimes": "rd.times", "WrReqs": "wr.reqs", "WrBytes": "wr.bytes",
             "WrTimes": "wr.times", "FlReqs": "fl.reqs", "FlTimes": "fl.times", "Errors": "errs",
             "Allocation": "allocation", "Capacity": "capacity", "Physical": "physical"}
_GO_NET = {"Name": "name", "RxBytes": "rx.bytes", "RxPkts": "rx.pkts", "RxErrs": "rx.errs",
           "RxDrop": "rx.drop", "TxBytes": "tx.bytes", "TxPkts": "tx.pkts", "TxErrs": "tx.errs",
           "TxDrop": "tx.drop"}


def parse_go_domain_stats(record: dict[str, Any]) -> dict[str, Any]:
    """A Go `libvirt.DomainStats` JSON record -> libvirt typed-parameter keys (only `*Set` fields)."""
    stats: dict[str, Any] = {}

    def copy(prefix: str, source: dict[str, Any], mapping: dict[str, str]) -> None:
        for go_name, key in mapping.items():
            if source.get(f"{go_name}Set"):
                stats[f"{prefix}{key}"] = source[go_name]

    copy("cpu.", record.get("Cpu") or {}, {"Time": "time", "User": "user", "System": "system"})
    for index, vcpu in enumerate(record.get("Vcpu") or []):
        copy(f"vcpu.{index}.", vcpu, {"State": "state", "Time": "time"})
    for index, block in enumerate(record.get("Block") or []):
        copy(f"block.{index}.", block, _GO_BLOCK)
    for index, nic in enumerate(record.get("Net") or []):
        copy(f"net.{index}.", nic, _GO_NET)
    return stats


def recorded_domains(name: str = "recorded-qemu-7.2.json") -> list[DomainRecord]:
    data = json.loads((LIBVIRT_FIXTURES / name).read_text())
    return [
        DomainRecord(
            name=d["name"], uuid=d["uuid"], stats=d["stats"], autostart=d["autostart"],
            persistent=d["persistent"], xml=parse_domain_xml(d["xml"]),
        )
        for d in data["domains"]
    ]
