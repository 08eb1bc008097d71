"""Network interfaces, bridges and bonds (fault vswitch_down): each interface's state from
one netlink dump (`netlink.py`) when `--path.sysfs` is the exporter's own /sys, else from
its sysfs attributes (`<sysfs>/class/net`); bridges' ports, bonds, speeds and kinds from
sysfs either way.

The kind of an interface comes from what sysfs shows of it: `bridge/` (bridge), `bonding/`
(bond), `tun_flags` (tap or tun), `DEVTYPE=vlan` in `uevent`, a device outside
`devices/virtual/` (physical), `iflink` pointing at another interface (veth), loopback
by its ARP type; OVS internal ports are named by the OVS collector, which knows them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from exporter.collectors.network.netlink import NetlinkLink, dump_links
from exporter.sysfs import SysfsReader

IFF_UP = 0x1
IFF_TAP = 0x2
ARPHRD_LOOPBACK = 772

@dataclass
class Link:
    device: str
    kind: str
    admin_up: bool | None
    operstate: str
    carrier: int | None
    carrier_changes: int | None
    carrier_up: int | None
    carrier_down: int | None
    speed_mbps: int | None
    mtu: int | None
    address: str
    master: str
    ifindex: int | None = None


def is_up(link: Link) -> bool:
    """operstate up; or `unknown` (drivers that do not track it: loopback, tun/tap) with
    the link administratively up and carrier present."""
    if link.operstate == "up":
        return True
    return link.operstate == "unknown" and bool(link.admin_up) and link.carrier == 1


@dataclass
class Bridge:
    name: str
    ports: list[str]


@dataclass
class Bond:
    name: str
    mode: str
    slaves: list[str]
    slave_mii_up: dict[str, bool]


@dataclass
class Links:
    links: list[Link]
    bridges: list[Bridge]
    bonds: list[Bond]


class DeviceFilter:
    def __init__(self, include: str = "", exclude: str = "") -> None:
        self._include = re.compile(include) if include else None
        self._exclude = re.compile(exclude) if exclude else None

    def wanted(self, device: str) -> bool:
        if self._include is not None and not self._include.search(device):
            return False
        return not (self._exclude is not None and self._exclude.search(device))


def _hex(text: str | None) -> int | None:
    try:
        return int(text, 16) if text is not None else None
    except ValueError:
        return None


def _uevent(reader: SysfsReader, base: str) -> dict[str, str]:
    text = reader.read_str(reader.path(f"{base}/uevent")) or ""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def link_kind(reader: SysfsReader, device: str) -> str:
    base = f"class/net/{device}"
    if reader.path(f"{base}/bridge").is_dir():
        return "bridge"
    if reader.path(f"{base}/bonding").is_dir():
        return "bond"
    tun_flags = _hex(reader.read_str(reader.path(f"{base}/tun_flags")))
    if tun_flags is not None:
        return "tap" if tun_flags & IFF_TAP else "tun"
    devtype = _uevent(reader, base).get("DEVTYPE", "")
    if devtype in ("vlan", "wlan", "macvlan", "vxlan", "wireguard"):
        return devtype
    if reader.read_int(reader.path(f"{base}/type")) == ARPHRD_LOOPBACK:
        return "loopback"
    real = os.path.realpath(reader.path(base))
    if reader.path(base).is_symlink() and "/devices/virtual/" not in real:
        return "physical"
    if reader.read_int(reader.path(f"{base}/iflink")) != reader.read_int(reader.path(f"{base}/ifindex")):
        return "veth"
    return "virtual"


def _master(reader: SysfsReader, device: str) -> str:
    try:
        return os.path.basename(os.readlink(reader.at(f"class/net/{device}/master")))
    except OSError:
        return ""


KindCache = dict[tuple[str, int | None], str]


def _kind(reader: SysfsReader, device: str, ifindex: int | None, kinds: KindCache | None) -> str:
    """`kinds` remembers each interface's kind by (name, ifindex): it never changes for a
    device, and finding it costs several reads."""
    kind = kinds.get((device, ifindex)) if kinds is not None else None
    if kind is None:
        kind = link_kind(reader, device)
        if kinds is not None:
            kinds[(device, ifindex)] = kind
    return kind


def _speed_mbps(reader: SysfsReader, base: str) -> int | None:
    # EINVAL while the link is administratively down (as for carrier): not an error
    speed = reader.read_int(f"{base}/speed", invalid_is_missing=True)
    return speed if speed is not None and speed >= 0 else None


def read_link(reader: SysfsReader, device: str, kinds: KindCache | None = None) -> Link:
    base = reader.at(f"class/net/{device}")
    ifindex = reader.read_int(f"{base}/ifindex")
    flags = _hex(reader.read_str(f"{base}/flags"))
    admin_up = bool(flags & IFF_UP) if flags is not None else None
    carrier = reader.read_int(f"{base}/carrier", invalid_is_missing=True)
    ups = reader.read_int(f"{base}/carrier_up_count")
    downs = reader.read_int(f"{base}/carrier_down_count")
    # the kernel shows carrier_changes as the sum of those two (Linux >= 4.16 has them)
    if ups is not None and downs is not None:
        changes: int | None = ups + downs
    else:
        changes = reader.read_int(f"{base}/carrier_changes")
    return Link(
        device=device,
        kind=_kind(reader, device, ifindex, kinds),
        admin_up=admin_up,
        operstate=reader.read_str(f"{base}/operstate") or "unknown",
        carrier=carrier,
        carrier_changes=changes,
        carrier_up=ups,
        carrier_down=downs,
        speed_mbps=_speed_mbps(reader, base),
        mtu=reader.read_int(f"{base}/mtu"),
        address=reader.read_str(f"{base}/address") or "",
        master=_master(reader, device),
        ifindex=ifindex,
    )


def read_bond(reader: SysfsReader, name: str) -> Bond:
    base = f"class/net/{name}"
    slaves = (reader.read_str(reader.path(f"{base}/bonding/slaves")) or "").split()
    mii = {}
    for slave in slaves:
        # `lower_<slave>` since Linux 4.x; `slave_<slave>` before (node_exporter reads both)
        state = reader.read_str(reader.path(f"{base}/lower_{slave}/bonding_slave/mii_status"))
        if state is None:
            state = reader.read_str(reader.path(f"{base}/slave_{slave}/bonding_slave/mii_status"))
        mii[slave] = state == "up"
    mode = (reader.read_str(reader.path(f"{base}/bonding/mode")) or "").split(" ")[0]
    return Bond(name, mode, slaves, mii)


def read_links(reader: SysfsReader, kinds: KindCache | None = None, netlink: bool = False) -> Links:
    """Every interface, from one netlink dump (`netlink`: when the sysfs read is the
    exporter's own) or from sysfs; a bridge's port counts whether or not the port's own
    series are filtered out."""
    links = _dumped_links(reader, kinds) if netlink else _sysfs_links(reader, kinds)
    if kinds is not None:
        present = {(link.device, link.ifindex) for link in links}
        for gone in [key for key in kinds if key not in present]:
            del kinds[gone]
    bridges = [Bridge(link.device, reader.list_dir(reader.path(f"class/net/{link.device}/brif")))
               for link in links if link.kind == "bridge"]
    bonds = [read_bond(reader, link.device) for link in links if link.kind == "bond"]
    return Links(links, bridges, bonds)


def _sysfs_links(reader: SysfsReader, kinds: KindCache | None) -> list[Link]:
    return [read_link(reader, device, kinds) for device in reader.list_dir(reader.path("class/net"))
            if os.path.isdir(reader.at(f"class/net/{device}"))]  # bonding_masters is a file


def _dumped_links(reader: SysfsReader, kinds: KindCache | None) -> list[Link]:
    dumped = dump_links()
    names = {link.index: link.name for link in dumped}
    return [_dumped_link(reader, link, names, kinds) for link in dumped]


def _dumped_link(reader: SysfsReader, link: NetlinkLink, names: dict[int, str],
                 kinds: KindCache | None) -> Link:
    admin_up = bool(link.flags & IFF_UP)
    base = reader.at(f"class/net/{link.name}")
    return Link(
        device=link.name, kind=_kind(reader, link.name, link.index, kinds), admin_up=admin_up,
        operstate=link.operstate,
        carrier=link.carrier if admin_up else None,  # as sysfs: none while administratively down
        carrier_changes=link.carrier_changes, carrier_up=link.carrier_up, carrier_down=link.carrier_down,
        speed_mbps=_speed_mbps(reader, base) if admin_up else None, mtu=link.mtu,
        address=link.address, master=names.get(link.master_index, ""), ifindex=link.index,
    )
