"""The network collector on real kernel objects the tests build in network namespaces
(bridge, veth, tap; a routing loop between two router namespaces; a packet burst), on
node_exporter's class/net fixture side by side with node_exporter 1.5.0, and the OVS
collector against a real userspace Open vSwitch.

Faults: vswitch_down, routing_loop, traffic_storm.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.domstats_fixtures import FIXTURES
from support.netns import Netns, run
from support.scrape import Samples, exporter, get, only, parse_samples, series, wait_until

from exporter.collectors.network.ethtool import BroadcastReader, is_broadcast_stat
from exporter.collectors.network.netlink import DumpPart, parse_link_dump
from exporter.collectors.network.procnet import parse_snmp, parse_softnet
from exporter.collectors.ovs.vsctl import parse_vsctl

NETWORK_ONLY = (*only("network"), "--no-network.ethtool")
DUMP_FIXTURE = FIXTURES / "netlink" / "getlink-bridge-veth-tap.bin"
ROOT_ONLY = pytest.mark.skipif(not shutil.which("ip") or sys.platform != "linux", reason="needs ip(8)")


@pytest.fixture
def namespaces() -> Iterator[list[Netns]]:
    created: list[Netns] = []
    yield created
    for ns in created:
        ns.close()


def new_ns(created: list[Netns], hint: str) -> Netns:
    ns = Netns(hint)
    created.append(ns)
    return ns


@ROOT_ONLY
def test_bridge_veth_and_tap_links_follow_the_kernel(namespaces: list[Netns]) -> None:
    ns = new_ns(namespaces, "br")
    ns.ip("link", "add", "kvmxtbr", "type", "bridge")
    ns.ip("link", "add", "kvmxtup", "type", "veth", "peer", "name", "kvmxtpeer")
    ns.ip("tuntap", "add", "dev", "kvmxttap", "mode", "tap")
    for port in ("kvmxtup", "kvmxttap"):
        ns.ip("link", "set", port, "master", "kvmxtbr")
    for link in ("kvmxtbr", "kvmxtup", "kvmxtpeer", "kvmxttap"):
        ns.ip("link", "set", link, "up")
    with exporter(*NETWORK_ONLY, f"--path.sysfs={ns.sysfs}", f"--path.procfs={ns.procfs}") as running:
        up = wait_until(running.scrape, lambda s: get(s, "kvm_bridge_uplink_up", bridge="kvmxtbr") == 1)
        kinds = {s["device"]: s["kind"] for s in series(up, "kvm_network_info")}
        assert kinds == {"lo": "loopback", "kvmxtbr": "bridge", "kvmxtup": "veth", "kvmxtpeer": "veth",
                         "kvmxttap": "tap"}
        assert series(up, "kvm_network_info", device="kvmxtup")[0]["master"] == "kvmxtbr"
        assert get(up, "kvm_bridge_ports", bridge="kvmxtbr") == 2
        assert get(up, "kvm_bridge_ports_up", bridge="kvmxtbr") == 1  # the tap has no VM behind it
        assert get(up, "kvm_network_carrier", device="kvmxtup") == 1
        changes_before = get(up, "kvm_network_carrier_changes_total", device="kvmxtup") or 0

        ns.ip("link", "set", "kvmxtpeer", "down")  # the far end goes away: our port loses carrier
        down = wait_until(running.scrape, lambda s: get(s, "kvm_bridge_uplink_up", bridge="kvmxtbr") == 0)
        assert get(down, "kvm_bridge_uplink_up", bridge="kvmxtbr") == 0
        assert get(down, "kvm_bridge_ports_up", bridge="kvmxtbr") == 0
        assert get(down, "kvm_network_up", device="kvmxtup") == 0
        assert get(down, "kvm_network_carrier", device="kvmxtup") == 0
        assert get(down, "kvm_network_admin_up", device="kvmxtup") == 1
        assert (get(down, "kvm_network_carrier_down_changes_total", device="kvmxtup") or 0) >= 1

        ns.ip("link", "set", "kvmxtpeer", "up")
        ns.ip("link", "set", "kvmxtup", "down")  # admin down: carrier reads EINVAL
        admin_down = wait_until(running.scrape,
                                lambda s: get(s, "kvm_network_admin_up", device="kvmxtup") == 0)
        assert get(admin_down, "kvm_network_carrier", device="kvmxtup") is None
        assert get(admin_down, "kvm_collector_read_errors_total", collector="network") == 0
        ns.ip("link", "set", "kvmxtup", "up")
        back = wait_until(running.scrape, lambda s: get(s, "kvm_bridge_uplink_up", bridge="kvmxtbr") == 1)
        assert (get(back, "kvm_network_carrier_changes_total", device="kvmxtup") or 0) >= changes_before + 2


@ROOT_ONLY
def test_device_filters_bound_the_per_interface_series(namespaces: list[Netns]) -> None:
    ns = new_ns(namespaces, "flt")
    ns.ip("link", "add", "kvmxtbr", "type", "bridge")
    for index in range(3):
        ns.ip("tuntap", "add", "dev", f"kvmxttap{index}", "mode", "tap")
        ns.ip("link", "set", f"kvmxttap{index}", "master", "kvmxtbr")
    with exporter(*NETWORK_ONLY, f"--path.sysfs={ns.sysfs}", f"--path.procfs={ns.procfs}",
                  "--network.device-exclude=^kvmxttap") as running:
        samples = running.scrape()
    assert {s["device"] for s in series(samples, "kvm_network_info")} == {"lo", "kvmxtbr"}
    assert get(samples, "kvm_bridge_ports", bridge="kvmxtbr") == 3  # ports still counted


@ROOT_ONLY
def test_a_real_routing_loop_raises_time_exceeded_counters(namespaces: list[Netns]) -> None:
    sender, r1, r2 = (new_ns(namespaces, hint) for hint in ("snd", "r1", "r2"))
    for router in (r1, r2):
        for setting in ("net.ipv4.ip_forward=1", "net.ipv4.conf.all.send_redirects=0",
                        "net.ipv4.conf.default.send_redirects=0", "net.ipv4.conf.all.rp_filter=0",
                        "net.ipv4.conf.default.rp_filter=0", "net.ipv4.icmp_ratelimit=0"):
            router.sysctl(setting)
    run("ip", "link", "add", "kvmxts0", "netns", sender.name, "type", "veth", "peer", "kvmxts1",
        "netns", r1.name)
    run("ip", "link", "add", "kvmxtr1", "netns", r1.name, "type", "veth", "peer", "kvmxtr2",
        "netns", r2.name)
    sender.ip("addr", "add", "169.254.10.1/30", "dev", "kvmxts0")
    r1.ip("addr", "add", "169.254.10.2/30", "dev", "kvmxts1")
    r1.ip("addr", "add", "169.254.20.1/30", "dev", "kvmxtr1")
    r2.ip("addr", "add", "169.254.20.2/30", "dev", "kvmxtr2")
    for ns, link in ((sender, "kvmxts0"), (r1, "kvmxts1"), (r1, "kvmxtr1"), (r2, "kvmxtr2")):
        ns.ip("link", "set", link, "up")
    # 169.254.99.0/24: the sender hands it to r1, r1 to r2, r2 back to r1 ... until TTL runs out.
    sender.ip("route", "add", "169.254.99.0/24", "via", "169.254.10.2")
    r1.ip("route", "add", "169.254.99.0/24", "via", "169.254.20.2")
    r2.ip("route", "add", "169.254.99.0/24", "via", "169.254.20.1")
    r2.ip("route", "add", "169.254.10.0/30", "via", "169.254.20.1")

    def snmp(ns: Netns) -> Iterator[Samples]:
        return exporter(*NETWORK_ONLY, f"--path.procfs={ns.procfs}", f"--path.sysfs={ns.sysfs}")

    with snmp(sender) as at_sender, snmp(r1) as at_r1, snmp(r2) as at_r2:
        before = [e.scrape() for e in (at_sender, at_r1, at_r2)]
        sent = 5
        sender.exec(sys.executable, "-c", "import socket, time\n"
                    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                    f"for _ in range({sent}):\n"
                    "    s.sendto(b'kvm-exporter loop test', ('169.254.99.1', 9))\n"
                    "    time.sleep(0.1)\n")
        after = wait_until(at_sender.scrape, lambda s: (get(s, "kvm_netstat_icmp_in_time_excds_total") or 0)
                           >= (get(before[0], "kvm_netstat_icmp_in_time_excds_total") or 0) + sent)
        after = [after, at_r1.scrape(), at_r2.scrape()]

    def rise(index: int, name: str) -> float:
        return (get(after[index], name) or 0) - (get(before[index], name) or 0)

    assert rise(0, "kvm_netstat_icmp_in_time_excds_total") >= sent
    out = "kvm_netstat_icmp_out_time_excds_total"
    assert rise(1, out) + rise(2, out) >= sent
    assert rise(1, "kvm_netstat_ip_forw_datagrams_total") >= sent * 10  # each packet went round and round


@ROOT_ONLY
def test_a_packet_burst_moves_packet_and_multicast_counters(namespaces: list[Netns]) -> None:
    ns = new_ns(namespaces, "burst")
    ns.ip("link", "add", "kvmxtbr", "type", "bridge")
    ns.ip("link", "add", "kvmxta", "type", "veth", "peer", "name", "kvmxtb")
    ns.ip("link", "set", "kvmxtb", "master", "kvmxtbr")
    for link in ("kvmxtbr", "kvmxta", "kvmxtb"):
        ns.ip("link", "set", link, "up")
    burst = 300
    sender = (
        "import socket\n"
        "s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n"
        "s.bind(('kvmxta', 0))\n"
        f"for _ in range({burst}):\n"
        "    s.send(bytes.fromhex('01005e0000fb' '020000000001' '88b5') + b'kvm-exporter burst'.ljust(46))\n")
    with exporter(*NETWORK_ONLY, f"--path.sysfs={ns.sysfs}", f"--path.procfs={ns.procfs}") as running:
        before = running.scrape()
        ns.exec(sys.executable, "-c", sender)
        after = wait_until(running.scrape, lambda s: (get(s, "kvm_network_receive_multicast_total",
                           device="kvmxtbr") or 0) >= burst)

    def rise(name: str, device: str) -> float:
        return (get(after, name, device=device) or 0) - (get(before, name, device=device) or 0)

    assert rise("kvm_network_transmit_packets_total", "kvmxta") >= burst
    assert rise("kvm_network_receive_packets_total", "kvmxtb") >= burst
    assert rise("kvm_network_receive_multicast_total", "kvmxtbr") >= burst
    assert series(after, "kvm_softnet_processed_total")


def test_snmp_and_softnet_parsers() -> None:
    snmp = parse_snmp("Ip: Forwarding InHdrErrors\nIp: 1 7\nIcmp: InTimeExcds\nIcmp: 3\n")
    assert snmp == {("Ip", "Forwarding"): 1, ("Ip", "InHdrErrors"): 7, ("Icmp", "InTimeExcds"): 3}
    with pytest.raises(ValueError):
        parse_snmp("Ip: A B\nIcmp: 1 2\n")
    with pytest.raises(ValueError):
        parse_snmp("Ip: A B\nIp: 1\n")
    rows = parse_softnet("0000000a 00000001 00000002 " + "00000000 " * 9 + "\n"
                         "0000000b 00000000 00000000 " + "00000000 " * 9 + "00000003 00000000 00000000\n")
    assert [(r.cpu, r.processed, r.dropped, r.time_squeezed) for r in rows] == [(0, 10, 1, 2), (3, 11, 0, 0)]


NODE_EXPORTER = shutil.which("prometheus-node-exporter")


@pytest.mark.skipif(NODE_EXPORTER is None, reason="Debian's prometheus-node-exporter is not installed")
def test_class_net_fixture_matches_node_exporter(tmp_path: Path) -> None:
    from support.scrape import free_port, serving

    port = free_port()
    command = [str(NODE_EXPORTER), f"--web.listen-address=127.0.0.1:{port}", "--collector.disable-defaults",
               "--collector.netclass", "--collector.bonding", f"--path.sysfs={FIXTURES / 'sysfs' / 'sys'}",
               f"--path.procfs={FIXTURES / 'procfs'}", f"--path.rootfs={tmp_path}"]
    url = f"http://127.0.0.1:{port}/metrics"
    with serving(command, url):
        import urllib.request
        with urllib.request.urlopen(url, timeout=10) as response:
            theirs = parse_samples(response.read().decode())
    procfs = tmp_path / "proc"
    (procfs / "net").mkdir(parents=True)
    (procfs / "net" / "snmp").write_text("Ip: Forwarding\nIp: 1\n")
    with exporter(*NETWORK_ONLY, f"--path.sysfs={FIXTURES / 'sysfs' / 'sys'}",
                  f"--path.procfs={procfs}") as running:
        ours = running.scrape()
    pairs = {
        "node_network_carrier": "kvm_network_carrier",
        "node_network_carrier_changes_total": "kvm_network_carrier_changes_total",
        "node_network_carrier_up_changes_total": "kvm_network_carrier_up_changes_total",
        "node_network_carrier_down_changes_total": "kvm_network_carrier_down_changes_total",
        "node_network_mtu_bytes": "kvm_network_mtu_bytes",
        "node_network_speed_bytes": "kvm_network_speed_bytes",
        "node_network_up": "kvm_network_up",
    }
    compared = 0
    for node_name, our_name in pairs.items():
        for labels in series(theirs, node_name):
            expected = get(theirs, node_name, **labels)
            if node_name == "node_network_speed_bytes" and expected is not None and expected < 0:
                expected = None  # 1.5.0 turns an unknown speed (-1) into -125000; we leave it out
            assert get(ours, our_name, device=labels["device"]) == expected, (node_name, labels)
            compared += 1
    for labels in series(theirs, "node_network_info"):
        info = series(ours, "kvm_network_info", device=labels["device"])
        assert info
        assert (info[0]["address"], info[0]["operstate"]) == (labels["address"], labels["operstate"])
    for node_name, our_name in (("node_bonding_slaves", "kvm_bond_slaves"),
                                ("node_bonding_active", "kvm_bond_active_slaves")):
        for labels in series(theirs, node_name):
            assert get(ours, our_name, bond=labels["master"]) == get(theirs, node_name, **labels)
            compared += 1
    assert compared >= 12


OVS_CAPTURE = FIXTURES / "ovs" / "ovs-vsctl-3.1-netdev.json"


def test_captured_ovs_vsctl_json_parses() -> None:
    state = parse_vsctl(OVS_CAPTURE.read_text())
    assert [(b.name, b.datapath_type, b.ports) for b in state.bridges] == [
        ("kvmxtovs0", "netdev", ["kvmxtovs0", "kvmxtv0"])]
    by_name = {i.name: i for i in state.interfaces}
    assert (by_name["kvmxtv0"].type, by_name["kvmxtv0"].link_state, by_name["kvmxtv0"].bridge) == (
        "system", "up", "kvmxtovs0")
    assert by_name["kvmxtovs0"].type == "internal"
    assert by_name["kvmxtv0"].statistics["rx_bytes"] > 0


@pytest.mark.parametrize("garbage", ["", "not json\n{}\n{}", '{"data": [[1]]}\n{}\n{}',
                                     OVS_CAPTURE.read_text().splitlines()[0]])
def test_broken_ovs_vsctl_output_is_an_error(garbage: str) -> None:
    with pytest.raises(ValueError):
        parse_vsctl(garbage)


class Ovs:
    """A private userspace Open vSwitch (ovsdb-server + ovs-vswitchd) in a temp dir."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.db = f"unix:{directory}/db.sock"
        run("ovsdb-tool", "create", f"{directory}/conf.db", "/usr/share/openvswitch/vswitch.ovsschema")
        self.ovsdb = self._daemon(["ovsdb-server", f"{directory}/conf.db",
                                   f"--remote=punix:{directory}/db.sock", f"--unixctl={directory}/ovsdb.ctl"])
        for _ in range(50):
            if (directory / "db.sock").exists():
                break
            time.sleep(0.1)
        self.vsctl("--no-wait", "init")
        self.vswitchd = self._daemon(["ovs-vswitchd", self.db, f"--unixctl={directory}/vswitchd.ctl"])

    def _daemon(self, argv: list[str]) -> subprocess.Popen[bytes]:
        log = (self.dir / f"{Path(argv[0]).name}.log").open("wb")
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)

    def vsctl(self, *args: str) -> str:
        return run("ovs-vsctl", f"--db={self.db}", "--timeout=10", *args)

    def close(self) -> None:
        for process in (self.vswitchd, self.ovsdb):
            process.send_signal(signal.SIGCONT)
            process.terminate()
            process.wait(10)


@pytest.fixture
def ovs(tmp_path: Path) -> Iterator[Ovs]:
    if not shutil.which("ovs-vswitchd"):
        pytest.skip("Open vSwitch is not installed")
    switch = Ovs(tmp_path)
    yield switch
    switch.close()
    for link in ("kvmxtovs0", "kvmxtov0", "ovs-netdev"):
        subprocess.run(["ip", "link", "del", link], capture_output=True, check=False)


def test_real_userspace_ovs_links_and_a_hung_ovsdb(ovs: Ovs) -> None:
    ovs.vsctl("add-br", "kvmxtovs0", "--", "set", "bridge", "kvmxtovs0", "datapath_type=netdev")
    run("ip", "link", "add", "kvmxtov0", "type", "veth", "peer", "name", "kvmxtov1")
    for link in ("kvmxtov0", "kvmxtov1"):
        run("ip", "link", "set", link, "up")
    ovs.vsctl("add-port", "kvmxtovs0", "kvmxtov0")
    labels = {"bridge": "kvmxtovs0", "port": "kvmxtov0", "interface": "kvmxtov0"}
    with exporter(*NETWORK_ONLY, "--no-collector.network", "--collector.ovs", f"--ovs.db={ovs.db}",
                  "--ovs.interval=500ms", "--ovs.timeout=2s", "--no-collector.process") as running:
        up = wait_until(running.scrape, lambda s: get(s, "kvm_ovs_interface_link_up", **labels) == 1)
        assert get(up, "kvm_ovs_up") == 1
        assert get(up, "kvm_ovs_bridge_ports", bridge="kvmxtovs0") == 2
        assert series(up, "kvm_ovs_bridge_info") == [{"bridge": "kvmxtovs0", "datapath_type": "netdev"}]
        assert series(up, "kvm_ovs_interface_info", interface="kvmxtovs0")[0]["type"] == "internal"
        resets = get(up, "kvm_ovs_interface_link_resets_total", **labels) or 0

        run("ip", "link", "set", "kvmxtov1", "down")
        down = wait_until(running.scrape, lambda s: get(s, "kvm_ovs_interface_link_up", **labels) == 0)
        assert get(down, "kvm_ovs_interface_link_up", **labels) == 0
        assert (get(down, "kvm_ovs_interface_link_resets_total", **labels) or 0) > resets

        ovs.ovsdb.send_signal(signal.SIGSTOP)  # ovsdb-server hangs: ovs-vsctl would wait forever
        hung = wait_until(running.scrape, lambda s: get(s, "kvm_ovs_up") == 0, seconds=15)
        ovs.ovsdb.send_signal(signal.SIGCONT)
    assert get(hung, "kvm_ovs_up") == 0
    assert series(hung, "kvm_ovs_error") in ([{"reason": "timeout"}], [{"reason": "exit_1"}])
    assert get(hung, "kvm_ovs_interface_link_up", **labels) == 0  # the last answer is kept
    assert get(hung, "kvm_scrape_collector_success", collector="ovs") == 1


def test_ethtool_statistics_of_real_devices_read_without_error() -> None:
    indexes = {name: socket.if_nametoindex(name) for _, name in socket.if_nameindex()}
    reader = BroadcastReader()
    found = reader.read(indexes)
    assert all(is_broadcast_stat(stat) for _, stat in found)
    assert reader._names[("lo", 1)] == []  # loopback has no ethtool stats: not asked again
    assert reader.read({"kvmxt-no-such-device": 999_999}) == {}
    assert ("kvmxt-no-such-device", 999_999) not in reader._names  # ENODEV: not remembered
    assert is_broadcast_stat("rx_bcast_packets") and is_broadcast_stat("tx_broadcast")
    assert not is_broadcast_stat("rx_multicast")


LINKS_BOTH_WAYS = """
import dataclasses, json
from exporter.collectors.network.links import read_links
from exporter.sysfs import SysfsReader
reader = SysfsReader("/sys")
def view(links):
    return {"links": sorted((dataclasses.asdict(l) for l in links.links), key=lambda l: l["device"]),
            "bridges": sorted((b.name, sorted(b.ports)) for b in links.bridges),
            "bonds": sorted(dataclasses.astuple(b) for b in links.bonds)}
print(json.dumps([view(read_links(reader, {}, netlink=False)), view(read_links(reader, {}, netlink=True))],
                 default=str))
"""


@ROOT_ONLY
def test_the_netlink_dump_reads_what_sysfs_shows(namespaces: list[Netns]) -> None:
    """In a namespace with a bridge and its ports, a tap, an ifb and a veth left
    administratively down (its peer up), the one netlink dump gives every link exactly as its sysfs
    attributes do (`ip netns exec` mounts the namespace's own /sys)."""
    ns = new_ns(namespaces, "nl")
    ns.ip("link", "add", "kvmxtbr", "type", "bridge")
    ns.ip("link", "add", "kvmxtup", "type", "veth", "peer", "name", "kvmxtpeer")
    ns.ip("link", "add", "kvmxtdown", "type", "veth", "peer", "name", "kvmxtdpeer")
    ns.ip("tuntap", "add", "dev", "kvmxttap", "mode", "tap")
    ns.ip("link", "add", "kvmxtifb", "type", "ifb")  # this kernel has no dummy, vlan or bond
    for port in ("kvmxtup", "kvmxttap"):
        ns.ip("link", "set", port, "master", "kvmxtbr")
    for link in ("kvmxtbr", "kvmxtup", "kvmxtpeer", "kvmxttap", "kvmxtifb", "kvmxtdpeer"):
        ns.ip("link", "set", link, "up")
    ns.ip("link", "set", "kvmxtup", "mtu", "1400")
    ns.ip("link", "set", "kvmxtpeer", "address", "02:00:00:00:00:42")
    by_sysfs, by_netlink = json.loads(ns.exec(sys.executable, "-c", LINKS_BOTH_WAYS))
    assert {link["device"] for link in by_sysfs["links"]} >= {
        "lo", "kvmxtbr", "kvmxtup", "kvmxtdown", "kvmxttap", "kvmxtifb"}
    assert by_netlink == by_sysfs
    down = next(link for link in by_netlink["links"] if link["device"] == "kvmxtdown")
    assert down["admin_up"] is False and down["carrier"] is None and down["operstate"] == "down"


def test_a_cut_or_garbled_netlink_dump_is_an_error() -> None:
    dump = DUMP_FIXTURE.read_bytes()
    first = struct.unpack_from("=I", dump)[0]
    with pytest.raises(ValueError, match="netlink message of length"):
        parse_link_dump(dump[:first // 2])
    garbled = bytearray(dump)
    struct.pack_into("=H", garbled, 16 + 16, 2)  # the first attribute: shorter than its header
    with pytest.raises(ValueError, match="netlink attribute"):
        parse_link_dump(bytes(garbled))
    assert parse_link_dump(dump[:first]) == DumpPart(parse_link_dump(dump).links[:1], False)  # a part


def test_a_captured_netlink_dump_parses() -> None:
    dump = parse_link_dump(DUMP_FIXTURE.read_bytes())
    links = dump.links
    by_name = {link.name: link for link in links}
    assert dump.done and not dump.error and by_name["lo"].index == 1 and by_name["lo"].operstate == "unknown"
    assert by_name["lo"].address == "00:00:00:00:00:00" and by_name["lo"].mtu == 65536
    ports = [link for link in links if link.master_index == by_name["kvmxtbr"].index]
    assert {link.name for link in ports} == {"kvmxtup", "kvmxttap"}
