"""The network collector (faults vswitch_down, routing_loop, traffic_storm): interfaces
(one netlink dump, or sysfs when --path.sysfs shows another namespace), bridges and bonds
from sysfs; ICMP/IP counters, softnet and conntrack from procfs; broadcast counters from
ethtool statistics."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from exporter.collector import SysfsCollector, register
from exporter.collectors.network.ethtool import BroadcastReader
from exporter.collectors.network.links import DeviceFilter, KindCache, Links, is_up, read_links
from exporter.collectors.network.procnet import NET_DEV_COLUMNS, SNMP_FIELDS, ProcNet, read_procnet
from exporter.metrics import Family, counter, gauge
from exporter.options import Option, regex
from exporter.settings import Settings
from exporter.shared import Shared
from exporter.sysfs import SysfsReader

UPLINK_EXCLUDED_KINDS = ("tap", "tun")  # VM and container ends; the rest carry traffic out
D = ["device"]


@dataclass
class NetworkSnapshot:
    links: Links
    procnet: ProcNet
    broadcast: dict[tuple[str, str], int]


def link_families(links: Links, wanted: DeviceFilter, dev: dict[str, dict[str, int]]) -> list[Family]:
    n = "network_"
    info = gauge(n + "info", "Interface facts as labels: kind (physical, bridge, bond, vlan, veth, tap, "
                 "tun, loopback, ...), master (its bridge or bond), MAC address, operstate.",
                 ["device", "kind", "master", "address", "operstate"])
    up = gauge(n + "up", "Whether the interface is up (1) or not (0): operstate up, or unknown "
               "(loopback, tap) with carrier.", D)
    admin = gauge(n + "admin_up", "Whether the interface is administratively up (IFF_UP).", D)
    carrier = gauge(n + "carrier", "Whether the interface has carrier (absent while admin down).", D)
    changes = counter(n + "carrier_changes", "Carrier changes of the interface since it appeared.", D)
    ups = counter(n + "carrier_up_changes", "Carrier up events of the interface.", D)
    downs = counter(n + "carrier_down_changes", "Carrier down events of the interface.", D)
    speed = gauge(n + "speed_bytes", "Link speed, in bytes per second (absent when unknown).", D)
    mtu = gauge(n + "mtu_bytes", "MTU of the interface, in bytes.", D)
    stats = {name: counter(f"{n}{name}", f"Interface counter {name.replace('_', ' ')} (/proc/net/dev).", D)
             for name in NET_DEV_COLUMNS}
    counters = {name: family.rows.append for name, family in stats.items()}  # ~16 rows per link
    for link in links.links:
        if not wanted.wanted(link.device):
            continue
        key = (link.device,)
        info.add((link.device, link.kind, link.master, link.address, link.operstate), 1)
        up.add(key, 1 if is_up(link) else 0)
        speed_bytes = link.speed_mbps * 125_000 if link.speed_mbps is not None else None
        for family, value in ((admin, link.admin_up), (carrier, link.carrier),
                              (changes, link.carrier_changes), (ups, link.carrier_up),
                              (downs, link.carrier_down), (mtu, link.mtu), (speed, speed_bytes)):
            if value is not None:
                family.add(key, int(value))
        for name, value in dev.get(link.device, {}).items():
            counters[name]((key, value))
    return [info, up, admin, carrier, changes, ups, downs, speed, mtu, *stats.values()]


def bridge_families(links: Links) -> list[Family]:
    by_name = {link.device: link for link in links.links}
    ports = gauge("bridge_ports", "Ports of the Linux bridge.", ["bridge"])
    ports_up = gauge("bridge_ports_up", "Ports of the Linux bridge that are up.", ["bridge"])
    uplink = gauge("bridge_uplink_up", "Whether at least one port of the bridge that is not a VM "
                   "tap (physical, bond, vlan, veth, ...) is up (1) or none is (0).", ["bridge"])
    port_info = gauge("bridge_port_info", "A port of a Linux bridge, with its kind.",
                      ["bridge", "port", "kind"])
    for bridge in links.bridges:
        members = [by_name[p] for p in bridge.ports if p in by_name]
        ports.add((bridge.name,), len(bridge.ports))
        ports_up.add((bridge.name,), sum(1 for m in members if is_up(m)))
        uplinks = [m for m in members if m.kind not in UPLINK_EXCLUDED_KINDS]
        uplink.add((bridge.name,), 1 if any(is_up(m) for m in uplinks) else 0)
        for member in members:
            port_info.add((bridge.name, member.device, member.kind), 1)
    return [ports, ports_up, uplink, port_info]


def bond_families(links: Links) -> list[Family]:
    slaves = gauge("bond_slaves", "Slaves configured in the bond.", ["bond"])
    active = gauge("bond_active_slaves", "Slaves of the bond whose MII status is up.", ["bond"])
    mii = gauge("bond_slave_mii_up", "Whether the bond slave's MII status is up (1) or not (0).",
                ["bond", "slave"])
    info = gauge("bond_info", "The bonding mode, as a label.", ["bond", "mode"])
    for bond in links.bonds:
        slaves.add((bond.name,), len(bond.slaves))
        active.add((bond.name,), sum(bond.slave_mii_up.values()))
        for slave, mii_up in sorted(bond.slave_mii_up.items()):
            mii.add((bond.name, slave), 1 if mii_up else 0)
        if bond.mode:
            info.add((bond.name, bond.mode), 1)
    return [slaves, active, mii, info]


def procnet_families(procnet: ProcNet) -> list[Family]:
    families = []
    for proto, field in SNMP_FIELDS:
        if (proto, field) in procnet.snmp:
            name = f"netstat_{proto.lower()}_{snake_case(field)}"
            family = counter(name, f"/proc/net/snmp {proto} {field}.")
            family.add((), procnet.snmp[(proto, field)])
            families.append(family)
    processed = counter("softnet_processed", "Packets processed by the CPU's softirq.", ["cpu"])
    dropped = counter("softnet_dropped", "Packets dropped because the CPU's backlog was full.", ["cpu"])
    squeezed = counter("softnet_times_squeezed", "Times the CPU's softirq ran out of budget or "
                       "time with work left.", ["cpu"])
    for row in procnet.softnet:
        processed.add((str(row.cpu),), row.processed)
        dropped.add((str(row.cpu),), row.dropped)
        squeezed.add((str(row.cpu),), row.time_squeezed)
    families += [processed, dropped, squeezed]
    if procnet.conntrack_entries is not None:
        entries = gauge("nf_conntrack_entries", "Connections in the conntrack table.")
        entries.add((), procnet.conntrack_entries)
        families.append(entries)
    if procnet.conntrack_limit is not None:
        limit = gauge("nf_conntrack_entries_limit", "Size limit of the conntrack table.")
        limit.add((), procnet.conntrack_limit)
        families.append(limit)
    return families


def snake_case(name: str) -> str:
    """`InTimeExcds` -> `in_time_excds` (promtool rejects camelCase metric names)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def broadcast_family(broadcast: dict[tuple[str, str], int], wanted: DeviceFilter) -> Family:
    family = counter("network_ethtool_broadcast_packets", "Broadcast counters of the interface's "
                     "driver (ethtool -S), by the driver's statistic name.", ["device", "stat"])
    for (device, stat), value in sorted(broadcast.items()):
        if wanted.wanted(device):
            family.add((device, stat), value)
    return family


class NetworkCollector(SysfsCollector[NetworkSnapshot]):
    name = "network"

    def __init__(self, sysfs: str, procfs: str, include: str, exclude: str, ethtool: bool = True) -> None:
        self._wanted = DeviceFilter(include, exclude)
        self._procfs = Path(procfs)
        self._broadcast = BroadcastReader() if ethtool else None
        self._kinds: KindCache = {}
        # /sys shows the exporter's own namespace, the one netlink answers for
        self._netlink = os.path.realpath(sysfs) == "/sys"
        super().__init__(sysfs, self._read_snapshot, self._build)

    def _read_snapshot(self, reader: SysfsReader) -> NetworkSnapshot:
        links = read_links(reader, self._kinds, netlink=self._netlink)
        indexes = {link.device: link.ifindex for link in links.links
                   if link.ifindex is not None and self._wanted.wanted(link.device)}
        broadcast = self._broadcast.read(indexes) if self._broadcast is not None else {}
        return NetworkSnapshot(links, read_procnet(self._procfs), broadcast)

    def _build(self, snapshot: NetworkSnapshot) -> list[Family]:
        return [*link_families(snapshot.links, self._wanted, snapshot.procnet.dev),
                *bridge_families(snapshot.links), *bond_families(snapshot.links),
                *procnet_families(snapshot.procnet), broadcast_family(snapshot.broadcast, self._wanted)]


DEVICE_INCLUDE = Option("network.device-include", "", "Only interfaces whose name matches this regular "
                        "expression get per-interface series.", parse=regex)
DEVICE_EXCLUDE = Option("network.device-exclude", "", "Leave out the per-interface series of interfaces "
                        "matching this regular expression (e.g. '^(tap|veth)' on a host with churning "
                        "taps).", parse=regex)
ETHTOOL = Option("network.ethtool", True, "Read broadcast counters from ethtool statistics of the "
                 "exporter's own network namespace (turn off when --path.sysfs shows another namespace).")


@register("network", default_enabled=True, options=[DEVICE_INCLUDE, DEVICE_EXCLUDE, ETHTOOL],
          description="interfaces, bridges, bonds, ICMP/IP counters, softnet, conntrack, broadcasts")
def create(settings: Settings, _shared: Shared) -> NetworkCollector:
    return NetworkCollector(settings.path_sysfs, settings.path_procfs, DEVICE_INCLUDE.of(settings),
                            DEVICE_EXCLUDE.of(settings), ETHTOOL.of(settings))
