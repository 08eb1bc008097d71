"""The probe collector's pure parts (fault network_latency): target forms and their errors, the
peers file, default gateways from this machine's captured routing tables, iSCSI portals, the
RTT histogram's buckets and its exposition."""

from __future__ import annotations

import pytest
from support.domstats_fixtures import FIXTURES

from exporter.collectors.probe import load_peers, parse_buckets
from exporter.collectors.probe.prober import Stats
from exporter.collectors.probe.targets import (
    Target,
    default_gateways,
    iscsi_portals,
    parse_peers,
    parse_target,
    unique,
)
from exporter.metrics import histogram, observe_histogram, render


@pytest.mark.parametrize(("text", "target"), [
    ("10.0.0.1", Target("10.0.0.1", "10.0.0.1")),
    ("gw=10.0.0.1", Target("gw", "10.0.0.1")),
    ("hv2.example.org", Target("hv2.example.org", "hv2.example.org")),
    ("tcp://10.0.0.5:3260", Target("10.0.0.5:3260", "10.0.0.5", 3260)),
    ("portal=tcp://[fd00::5]:3260", Target("portal", "fd00::5", 3260)),
    ("ll=fe80::1%eth0", Target("ll", "fe80::1%eth0")),
    ("libvirt=tcp://HV2.example.org:16514", Target("libvirt", "hv2.example.org", 16514)),
])
def test_target_forms(text: str, target: Target) -> None:
    assert parse_target(text) == target
    assert target.kind == ("tcp" if target.port else "icmp")


@pytest.mark.parametrize(("text", "error"), [
    ("", "no address"), ("gw=", "no address"), ("bad name=10.0.0.1", "the name"),
    ("udp://10.0.0.1:53", "only tcp://"), ("tcp://10.0.0.1", "tcp://HOST:PORT"),
    ("tcp://10.0.0.1:70000", "out of range"), ("-oops", "not an address"), ("a b", "not an address"),
])
def test_bad_targets_say_what_is_wrong(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_target(text)


def test_peers_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    peers = parse_peers("# migration group A\nhv2=10.0.0.2\n\nhv3=tcp://10.0.0.3:16514  # libvirt TLS\n")
    assert peers == [Target("hv2", "10.0.0.2", 0, "peers"), Target("hv3", "10.0.0.3", 16514, "peers")]
    with pytest.raises(ValueError, match="line 2: "):
        parse_peers("hv2=10.0.0.2\nhv3=udp://x:1\n")
    bad = tmp_path / "peers"
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(ValueError, match="peers file"):
        load_peers(str(bad))
    with pytest.raises(ValueError, match="peers file"):
        load_peers(str(tmp_path / "missing"))


def test_default_gateways_of_the_captured_routing_tables() -> None:
    route = (FIXTURES / "procfs" / "net" / "route").read_text()
    ipv6 = (FIXTURES / "procfs" / "net" / "ipv6_route").read_text()
    assert default_gateways(route, ipv6) == [
        Target("gateway-192.0.2.1", "192.0.2.1", 0, "gateway"), Target("gateway-fd00::1", "fd00::1", 0,
                                                                       "gateway")]
    assert default_gateways("Iface\tDestination\n", "") == []


def test_iscsi_portals_and_unique_names() -> None:
    portals = iscsi_portals(["127.0.0.1:3260,1", "127.0.0.1:3260,2", "[fd00::7]:3260,1", "junk"])
    assert [(t.name, t.host, t.port, t.source) for t in portals] == [
        ("iscsi-127.0.0.1:3260", "127.0.0.1", 3260, "iscsi"), ("iscsi-[fd00::7]:3260", "fd00::7", 3260,
                                                               "iscsi")]
    flag, peer = Target("hv2", "10.0.0.2"), Target("hv2", "10.9.9.9", 0, "peers")
    assert unique([flag, peer]) == [flag]


def test_buckets_and_histogram_exposition() -> None:
    assert parse_buckets("0.001,0.01,0.1") == (0.001, 0.01, 0.1)
    for bad in ("", "0.1,0.01", "0,1", "x"):
        with pytest.raises(ValueError, match="buckets"):
            parse_buckets(bad)
    stats = Stats((0.001, 0.01))
    for rtt in (0.0005, 0.001, 0.005, 2.0):
        stats.observe(rtt)
    assert stats.counts == [2, 1, 1]  # a bucket's bound is inclusive (le)
    family = histogram("probe_rtt_seconds", "RTT.", ["target"])
    observe_histogram(family, ("gw",), stats.bounds, stats.counts, stats.rtt_sum)
    text = render([family])
    assert 'kvm_probe_rtt_seconds_bucket{target="gw",le="0.001"} 2\n' in text
    assert 'kvm_probe_rtt_seconds_bucket{target="gw",le="+Inf"} 4\n' in text
    assert 'kvm_probe_rtt_seconds_count{target="gw"} 4\n' in text
    assert "# TYPE kvm_probe_rtt_seconds histogram\n" in text
