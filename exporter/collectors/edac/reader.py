"""EDAC memory controllers from sysfs (fault memory_ecc): devices/system/edac/mc/mcN/.

Two layouts exist and both are read: the legacy csrowK/chJ_{ce_count,ue_count,dimm_label}
and the newer dimmK/ (or rankK/) with dimm_{ce_count,ue_count,label,location,mem_type}.
Missing optional files are normal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from exporter.sysfs import SysfsReader


@dataclass(frozen=True)
class Channel:
    csrow: str
    channel: str
    ce: int | None
    ue: int | None
    dimm_label: str


@dataclass(frozen=True)
class Csrow:
    csrow: str
    ce: int | None
    ue: int | None


@dataclass(frozen=True)
class Dimm:
    dimm: str
    ce: int | None
    ue: int | None
    label: str
    location: str
    mem_type: str
    size_mib: int | None


@dataclass
class Controller:
    controller: str
    ce: int | None
    ue: int | None
    ce_noinfo: int | None
    ue_noinfo: int | None
    name: str = ""
    csrows: list[Csrow] = field(default_factory=list)
    channels: list[Channel] = field(default_factory=list)
    dimms: list[Dimm] = field(default_factory=list)


def _numbered(entries: list[str], prefix: str) -> list[str]:
    found = [e for e in entries if re.fullmatch(rf"{prefix}\d+", e)]
    return sorted(found, key=lambda e: int(e.removeprefix(prefix)))


def read_edac(reader: SysfsReader) -> list[Controller]:
    base = reader.path("devices/system/edac/mc")
    controllers = []
    for mc in _numbered(reader.list_dir(base), "mc"):
        path = base / mc
        controller = Controller(
            controller=mc.removeprefix("mc"),
            ce=reader.read_int(path / "ce_count"),
            ue=reader.read_int(path / "ue_count"),
            ce_noinfo=reader.read_int(path / "ce_noinfo_count"),
            ue_noinfo=reader.read_int(path / "ue_noinfo_count"),
            name=reader.read_str(path / "mc_name") or "",
        )
        entries = reader.list_dir(path)
        for csrow in _numbered(entries, "csrow"):
            row = path / csrow
            number = csrow.removeprefix("csrow")
            controller.csrows.append(Csrow(number, reader.read_int(row / "ce_count"),
                                           reader.read_int(row / "ue_count")))
            for name in reader.list_dir(row):
                match = re.fullmatch(r"ch(\d+)_ce_count", name)
                if match:
                    ch = match.group(1)
                    controller.channels.append(Channel(
                        number, ch, reader.read_int(row / name),
                        reader.read_int(row / f"ch{ch}_ue_count"),
                        reader.read_str(row / f"ch{ch}_dimm_label") or ""))
        for prefix in ("dimm", "rank"):
            for dimm in _numbered(entries, prefix):
                d = path / dimm
                controller.dimms.append(Dimm(
                    dimm, reader.read_int(d / "dimm_ce_count"), reader.read_int(d / "dimm_ue_count"),
                    reader.read_str(d / "dimm_label") or "", reader.read_str(d / "dimm_location") or "",
                    reader.read_str(d / "dimm_mem_type") or "", reader.read_int(d / "size")))
        controller.channels.sort(key=lambda c: (int(c.csrow), int(c.channel)))
        controllers.append(controller)
    return controllers
