"""libvirt virtual networks: a real isolated network the test defines on its own bridge (never
the `default` NAT network), with a real DHCP lease taken from the dnsmasq libvirt runs for
it, by a client in a network namespace plugged into the bridge."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import libvirt
import pytest
from conftest import QEMU_URI
from support.netns import Netns, run
from support.scrape import exporter, get, only, series, wait_until

from exporter.collectors.libvirt_networks import NetworkXML, parse_network_xml

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (libvirtd, netns)")
CLIENT = Path(__file__).parent / "support" / "dhcp_client.py"


@pytest.fixture
def network(libvirtd_available: None) -> Iterator[Any]:
    suffix = uuid.uuid4().hex[:6]
    conn = libvirt.open(QEMU_URI)
    net = conn.networkDefineXML(
        f"<network><name>kvmxt-net-{suffix}</name><bridge name='kvmxtvn{suffix}'/>"
        "<ip address='203.0.113.1' netmask='255.255.255.0'>"
        "<dhcp><range start='203.0.113.10' end='203.0.113.20'/></dhcp></ip></network>")
    try:
        net.create()
        net.setAutostart(1)
        yield net
    finally:
        if net.isActive():
            net.destroy()
        net.undefine()
        conn.close()


def test_a_network_with_a_real_dhcp_lease(network: Any) -> None:
    name, bridge = network.name(), network.bridgeName()
    client = Netns("dhcp")
    host_end = f"kvmxtd{uuid.uuid4().hex[:6]}"
    try:
        run("ip", "link", "add", host_end, "type", "veth", "peer", "name", "lease0", "netns", client.name)
        run("ip", "link", "set", host_end, "master", bridge, "up")
        client.ip("link", "set", "lease0", "address", "52:54:00:0a:0b:0c", "up")
        with exporter(*only("libvirt_networks")) as running:
            before = running.scrape()
            assert get(before, "kvm_libvirt_network_dhcp_leases", network=name) == 0
            leased = client.exec(sys.executable, str(CLIENT), "lease0", "52:54:00:0a:0b:0c").strip()
            assert leased.startswith("203.0.113.")
            samples = wait_until(running.scrape,
                                 lambda s: get(s, "kvm_libvirt_network_dhcp_leases", network=name) == 1)
            assert get(samples, "kvm_libvirt_network_dhcp_leases", network=name) == 1
            assert get(samples, "kvm_libvirt_network_active", network=name) == 1
            assert get(samples, "kvm_libvirt_network_autostart", network=name) == 1
            assert series(samples, "kvm_libvirt_network_info", network=name) == [
                {"network": name, "bridge": bridge, "forward": ""}]
            network.destroy()
            stopped = running.scrape()
        assert get(stopped, "kvm_libvirt_network_active", network=name) == 0
        assert get(stopped, "kvm_libvirt_network_dhcp_leases", network=name) is None
        assert series(stopped, "kvm_libvirt_network_info", network=name)[0]["bridge"] == bridge
    finally:
        client.close()  # deleting the namespace deletes the veth pair


@pytest.mark.parametrize(("xml", "bridge", "forward"), [
    ("<network><name>n</name><forward mode='route'/><bridge name='br1'/></network>", "br1", "route"),
    ("<network><name>n</name><forward/><bridge name='virbr0'/></network>", "virbr0", "nat"),
    ("<network><name>n</name></network>", "", ""),
])
def test_network_xml(xml: str, bridge: str, forward: str) -> None:
    info = parse_network_xml(xml)
    assert (info.bridge, info.forward) == (bridge, forward)


@pytest.mark.parametrize("xml", ["", "<domain/>", "<network>"])
def test_not_network_xml_is_an_error(xml: str) -> None:
    with pytest.raises(ValueError, match="network"):
        parse_network_xml(xml)


def test_captured_network_xml() -> None:
    captured = Path(__file__).parent / "fixtures" / "libvirt" / "network-isolated-dhcp.xml"
    assert parse_network_xml(captured.read_text()) == NetworkXML("kvmxtvncap", "")
