"""The probe collector on real kernel objects (fault network_latency): two network namespaces
joined by a veth pair (tests/support/probe_lab.py), the exporter inside one of them. Loss from
an iptables `statistic` DROP rule on the target's side, an outage from its link set down, a
TCP listener opened and closed, and both ICMP modes: raw as root, unprivileged datagram
sockets for an unprivileged user once the test sets `ping_group_range` in its namespace."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.probe_lab import FAR, NamespacedExporter, namespaced_exporter, probe_lab
from support.scrape import get, only
from support.waiting import until

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, iptables)"),
              pytest.mark.slow]

# 10 probes a second; a reply may take up to 90 ms (a loaded CI host) before it counts as lost
FAST = (*only("probe"), "--probe.interval=100ms", "--no-probe.auto-targets")
ICMP = {"target": "far", "kind": "icmp"}
DELAY_LINE = Path(__file__).parent / "support" / "delay_line.py"


def counts(running: NamespacedExporter, **labels: str) -> tuple[float, float]:
    samples = running.scrape()
    sent = get(samples, "kvm_probe_sent_total", **labels) or 0
    return sent, get(samples, "kvm_probe_received_total", **labels) or 0


def loss_over(running: NamespacedExporter, seconds: float, **labels: str) -> tuple[float, float]:
    """(loss ratio, probes sent) over the next `seconds`."""
    sent0, received0 = counts(running, **labels)
    time.sleep(seconds)
    sent1, received1 = counts(running, **labels)
    sent = sent1 - sent0
    return 1 - (received1 - received0) / sent, sent


def test_loss_from_a_random_drop_rule_and_an_outage() -> None:
    # 5 probes a second: a reply has 180 ms before it counts as lost, even on a loaded host
    steady = (*only("probe"), "--probe.interval=200ms", "--no-probe.auto-targets")
    with probe_lab() as lab, namespaced_exporter(lab.near, *steady, f"--probe.target=far={FAR}") as running:
        until("first answers", lambda: counts(running, **ICMP)[1] > 3, 20)
        healthy, sent = loss_over(running, 4, **ICMP)
        assert healthy < 0.1 and sent >= 18, (healthy, sent)  # on schedule
        rule = lab.drop(0.4)
        lossy, sent = loss_over(running, 20, **ICMP)
        assert 0.25 < lossy < 0.55, f"loss {lossy:.2f} over {sent:.0f} probes with a 40% drop rule"
        lab.undrop(rule)
        time.sleep(0.4)  # the probes in flight when the rule went
        assert loss_over(running, 4, **ICMP)[0] < 0.1
        lab.far.ip("link", "set", lab.far_link, "down")
        down, _ = loss_over(running, 2, **ICMP)
        assert down == 1
        samples = running.scrape()
        assert get(samples, "kvm_probe_failures_total", **ICMP, reason="timeout") > 0
        assert get(samples, "kvm_probe_icmp_mode", mode="raw") == 1  # root, no ping_group_range
        assert get(samples, "kvm_probe_skipped_ticks_total") == 0
        assert get(samples, "kvm_probe_rtt_seconds_count", **ICMP) == get(samples,
                                                                          "kvm_probe_received_total", **ICMP)


def test_tcp_probe_against_a_listener_opened_and_closed() -> None:
    with probe_lab() as lab:
        listener = subprocess.Popen(["ip", "netns", "exec", lab.far.name, sys.executable, "-c",
                                     "import socket,time\ns=socket.create_server(('" + FAR + "', 4444))\n"
                                     "s.listen(64)\nwhile True:\n    c,_=s.accept(); c.close()"])
        try:
            tcp = {"target": "portal", "kind": "tcp"}
            with namespaced_exporter(lab.near, *FAST, f"--probe.target=portal=tcp://{FAR}:4444") as running:
                until("connections", lambda: counts(running, **tcp)[1] > 10, 20)
                listener.kill()
                listener.wait()
                until("refused", lambda: (get(running.scrape(), "kvm_probe_failures_total", **tcp,
                                              reason="refused") or 0) > 5, 20)
                assert loss_over(running, 1, **tcp)[0] == 1
        finally:
            listener.kill()
            listener.wait()


def test_unprivileged_icmp_where_ping_group_range_allows() -> None:
    with probe_lab() as lab:
        lab.near.sysctl("net.ipv4.ping_group_range=0 2147483647")
        with namespaced_exporter(lab.near, *FAST, f"--probe.target=far={FAR}", user="nobody") as running:
            until("answers", lambda: counts(running, **ICMP)[1] > 5, 20)
            assert get(running.scrape(), "kvm_probe_icmp_mode", mode="unprivileged") == 1
            assert loss_over(running, 2, **ICMP)[0] < 0.1


def test_a_delay_line_moves_the_rtt_into_its_bucket() -> None:
    """Echo requests held 80 ms by a userspace forwarder between two tun devices: the RTT
    histogram fills (0.0512, 0.1024], and nothing lands below it."""
    with probe_lab() as lab:
        line = subprocess.Popen(["ip", "netns", "exec", lab.near.name, sys.executable, str(DELAY_LINE),
                                 lab.far.name, "0.08", "kvmxtdla", "kvmxtdlb"], stdout=subprocess.PIPE)
        try:
            assert line.stdout is not None and line.stdout.readline().strip() == b"ready"
            lab.near.ip("addr", "add", "169.254.88.1", "peer", "169.254.88.2", "dev", "kvmxtdla")
            lab.far.ip("addr", "add", "169.254.88.2", "peer", "169.254.88.1", "dev", "kvmxtdlb")
            lab.near.ip("link", "set", "kvmxtdla", "up")
            lab.far.ip("link", "set", "kvmxtdlb", "up")
            slow = {"target": "slow", "kind": "icmp"}
            flags = (*only("probe"), "--probe.interval=200ms", "--no-probe.auto-targets",
                     "--probe.target=slow=169.254.88.2")
            with namespaced_exporter(lab.near, *flags) as running:
                until("answers", lambda: counts(running, **slow)[1] >= 20, 30)
                samples = running.scrape()
        finally:
            line.kill()
            line.wait()
    received = get(samples, "kvm_probe_received_total", **slow)
    assert get(samples, "kvm_probe_rtt_seconds_bucket", **slow, le="0.0512") == 0
    assert get(samples, "kvm_probe_rtt_seconds_bucket", **slow, le="0.1024") == received
    assert 0.08 <= get(samples, "kvm_probe_last_rtt_seconds", **slow) < 0.1024
