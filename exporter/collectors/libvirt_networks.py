"""The libvirt_networks collector (fault vswitch_down): libvirt's virtual networks — active,
autostart, their bridge and forward mode, and the DHCP leases dnsmasq handed out on them.

Per scrape, on the shared connection: three listings (all, active, autostart) and one
lease call per active network. A network's XML (bridge, forward mode) is read once per
network and state and kept for `XML_MAX_AGE` seconds: it changes only when the network is
redefined, which an inactive-to-active change or the age refreshes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import libvirt

from exporter.collector import CollectorError, SingleFlight, in_thread, register
from exporter.libvirt.domxml import parse_root
from exporter.libvirt.shared import SharedLibvirt
from exporter.libvirt.source import optional_call
from exporter.metrics import Family, gauge
from exporter.settings import Settings
from exporter.shared import Shared

XML_MAX_AGE = 300.0


@dataclass(frozen=True, slots=True)
class NetworkXML:
    bridge: str = ""
    forward: str = ""  # nat, route, open, bridge, ...; "" for an isolated network


@dataclass(frozen=True, slots=True)
class VirtualNetwork:
    name: str
    active: bool
    autostart: bool
    xml: NetworkXML
    leases: int | None  # None: inactive, or the driver keeps no leases


@dataclass
class NetworkSnapshot:
    networks: list[VirtualNetwork] = field(default_factory=list)


def parse_network_xml(text: str) -> NetworkXML:
    """`virNetworkGetXMLDesc`: the bridge and forward mode; ValueError if not network XML."""
    root = parse_root(text, "network")
    bridge = root.find("bridge")
    forward = root.find("forward")
    return NetworkXML(bridge.get("name", "") if bridge is not None else "",
                      forward.get("mode", "nat") if forward is not None else "")


class NetworkReader:
    def __init__(self, libvirt_source: SharedLibvirt) -> None:
        self._libvirt = libvirt_source
        self._xml: dict[tuple[str, bool], tuple[float, NetworkXML]] = {}

    def read(self) -> NetworkSnapshot:
        conn = self._libvirt.inventory().conn

        def uuids(flags: int) -> set[str]:
            return {net.UUIDString() for net in conn.listAllNetworks(flags)}

        networks = conn.listAllNetworks(0)
        active = uuids(libvirt.VIR_CONNECT_LIST_NETWORKS_ACTIVE)
        autostart = uuids(libvirt.VIR_CONNECT_LIST_NETWORKS_AUTOSTART)
        found = []
        for net in networks:
            try:
                uuid = net.UUIDString()
                running = uuid in active
                found.append(VirtualNetwork(net.name(), running, uuid in autostart,
                                            self._xml_of(net, uuid, running),
                                            _leases(net) if running else None))
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_NETWORK:
                    raise  # else undefined while we looked
        present = {(n.UUIDString(), n.UUIDString() in active) for n in networks}
        for key in self._xml.keys() - present:
            del self._xml[key]
        return NetworkSnapshot(sorted(found, key=lambda n: n.name))

    def _xml_of(self, net: Any, uuid: str, running: bool) -> NetworkXML:
        now = time.monotonic()
        cached = self._xml.get((uuid, running))
        if cached is None or now - cached[0] > XML_MAX_AGE:
            try:
                info = parse_network_xml(net.XMLDesc(0))
            except ValueError:
                info = NetworkXML()
            cached = (now, info)
            self._xml[(uuid, running)] = cached
        return cached[1]


def _leases(net: Any) -> int | None:
    leases = optional_call(net.DHCPLeases)
    return None if leases is None else len(leases)


def network_families(snapshot: NetworkSnapshot) -> list[Family]:
    n = ["network"]
    info = gauge("libvirt_network_info", "A libvirt virtual network: its bridge and forward mode "
                 "(nat, route, open, bridge, ...; empty for an isolated network).", [*n, "bridge", "forward"])
    active = gauge("libvirt_network_active", "Whether the virtual network is active (1) or not (0).", n)
    autostart = gauge("libvirt_network_autostart", "Whether the virtual network starts with libvirt "
                      "(1) or not (0).", n)
    leases = gauge("libvirt_network_dhcp_leases", "DHCP leases handed out on the active virtual "
                   "network (libvirt's record of dnsmasq's leases).", n)
    for net in snapshot.networks:
        key = (net.name,)
        info.add((net.name, net.xml.bridge, net.xml.forward), 1)
        active.add(key, 1 if net.active else 0)
        autostart.add(key, 1 if net.autostart else 0)
        if net.leases is not None:
            leases.add(key, net.leases)
    return [info, active, autostart, leases]


class NetworkCollector:
    name = "libvirt_networks"

    def __init__(self, libvirt_source: SharedLibvirt) -> None:
        self._flight: SingleFlight[NetworkSnapshot] = in_thread(NetworkReader(libvirt_source).read)

    async def collect(self) -> list[Family]:
        try:
            return network_families(await self._flight.run())
        except libvirt.libvirtError as exc:
            raise CollectorError(f"libvirt: {exc}", []) from exc

    async def close(self) -> None:
        return None


@register("libvirt_networks", default_enabled=True,
          description="libvirt virtual networks: active, autostart, bridge, forward mode, DHCP leases")
def create(_settings: Settings, shared: Shared) -> NetworkCollector:
    return NetworkCollector(shared.libvirt)
