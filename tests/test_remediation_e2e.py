"""Self-healing end to end: faults injected on real components, a real Prometheus evaluating
the shipped rules (time compressed 60x), a real Alertmanager with the shipped routing (its
per-host remediator routes pointed at the test's remediators), and real kvm-remediators with
the shipped playbooks (their limits compressed alike) that heal what they may:

- an autostart domain's QEMU SIGKILLed -> VmCrashed -> remediator A (enforce) starts it; the
  time to recover is exported and within the compressed 8-minute objective;
- the same on host B, whose remediator is in dry-run: nothing changes, the audit says what
  would have been done;
- a bridge port set down in a network namespace -> BridgeUplinkDown -> A sets it up through
  netlink in that namespace -> the alert resolves;
- an autostart domain whose disk is gone -> VmAutostartNotRunning -> A's start fails ->
  KvmRemediationFailing (fault remediation) reaches Alertmanager and resolves later; the
  repeats retry after each cooldown until the circuit breaker opens (KvmRemediatorCircuitOpen).
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
import urllib.parse
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import libvirt
import pytest
from support.alerting_stack import alerting_stack, alertmanager_test_config, generate_rules
from support.netns import Netns
from support.remediator import remediator
from support.scrape import exporter, free_port, get, only, serving
from support.waiting import until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (libvirtd, netns)")

FACTOR = 60
OBJECTIVE_SECONDS = 480  # the operations guide's mean time to recover


def am_config(hook: str, healers: dict[str, tuple[str, list[str]]]) -> dict[str, Any]:
    """The shipped routing, each per-host remediator route's instance matcher and receiver URL
    pointed at a test host and its remediator, its timings compressed like the rules'."""
    config = alertmanager_test_config(hook)
    for route in config["route"]["routes"]:
        name = route["receiver"]
        if name in healers:
            instances = "|".join(re.escape(i) for i in healers[name][1])
            route["matchers"] = [
                f'instance=~"{instances}"' if m.startswith("instance") else m for m in route["matchers"]
            ]
            route.update(group_interval="1s", repeat_interval="15s")
    for receiver in config["receivers"]:
        if receiver["name"] in healers:
            receiver["webhook_configs"][0]["url"] = f"{healers[receiver['name']][0]}/alerts"
    return config


def kill_qemu(dom: libvirt.virDomain) -> None:
    """SIGKILL the domain's QEMU; whether (and when) it runs again is the remediator's doing."""
    os.kill(int(Path(f"/run/libvirt/qemu/{dom.name()}.pid").read_text()), signal.SIGKILL)


def test_faults_are_healed_through_prometheus_and_alertmanager(tmp_path: Path, domains) -> None:  # type: ignore[no-untyped-def]
    rules = generate_rules(tmp_path / "bundle", FACTOR)
    crash = domains.create("remcrash", persistent=True, autostart=True)
    dry = domains.create("remdry", persistent=True, autostart=True)
    broken = domains.create("rembroken", persistent=True, autostart=True, start=False)
    Path(broken.XMLDesc(0).split("<source file='")[1].split("'")[0]).unlink()  # it cannot start
    ns = Netns("rem")
    with ExitStack() as stack:
        stack.callback(ns.close)
        ns.ip("link", "add", "kvmxrbr", "type", "bridge")
        ns.ip("link", "add", "kvmxrup", "type", "veth", "peer", "name", "kvmxrpeer")
        ns.ip("link", "set", "kvmxrup", "master", "kvmxrbr")
        for link in ("kvmxrbr", "kvmxrup", "kvmxrpeer"):
            ns.ip("link", "set", link, "up")
        host_a = stack.enter_context(
            exporter(*only("libvirt"), f"--libvirt.domain-include=^({crash.name()}|{broken.name()})$")
        )
        host_b = stack.enter_context(exporter(*only("libvirt"), f"--libvirt.domain-include=^{dry.name()}$"))
        port = free_port()
        stack.enter_context(
            serving(
                [
                    sys.executable,
                    "-m",
                    "exporter",
                    *only("network"),
                    "--no-network.ethtool",
                    f"--path.sysfs={ns.sysfs}",
                    f"--path.procfs={ns.procfs}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                f"http://127.0.0.1:{port}/-/ready",
            )
        )
        a, b, net = (e.removeprefix("http://") for e in (host_a.url, host_b.url, f"http://127.0.0.1:{port}"))
        healer_a = stack.enter_context(
            remediator(
                tmp_path,
                "--mode=enforce",
                f"--instance={a}",
                f"--instance={net}",
                f"--net.namespace=/run/netns/{ns.name}",
                name="a",
            )
        )
        healer_b = stack.enter_context(remediator(tmp_path, f"--instance={b}", name="b"))
        healers = {"remediator-hv1": (healer_a.url, [a, net]), "remediator-hv2": (healer_b.url, [b])}
        monitoring = stack.enter_context(
            alerting_stack(
                tmp_path,
                [a, b, net],
                rules,
                remediators=[r.url.removeprefix("http://") for r in (healer_a, healer_b)],
                am_config=lambda hook: am_config(hook, healers),
            )
        )
        time.sleep(20)  # healthy for longer than the longest compressed window (15 s)

        kill_qemu(crash)
        kill_qemu(dry)
        ns.ip("link", "set", "kvmxrup", "down")

        started = until(
            "the crashed domain restarted",
            lambda: healer_a.actions(action="start_domain", target=crash.name()),
        )
        assert started[-1]["result"] == "succeeded", started
        assert crash.isActive()
        assert started[-1]["time_to_recover"] * FACTOR < OBJECTIVE_SECONDS, started[-1]
        up = until("the bridge port set up", lambda: healer_a.actions(action="link_up", result="succeeded"))
        assert up[-1]["detail"] == "set up: kvmxrup" and up[-1]["target"] == "kvmxrbr"
        assert "state UP" in ns.ip("link", "show", "kvmxrup") or ",UP" in ns.ip("link", "show", "kvmxrup")
        would = until("the dry-run decision", lambda: healer_b.actions(action="start_domain"))
        assert would[-1]["result"] == "dry_run" and would[-1]["detail"].startswith(
            f"would start {dry.name()}"
        )
        assert not dry.isActive()
        failed = until("the failed start", lambda: healer_a.actions(target=broken.name(), result="failed"))
        assert "Cannot access storage file" in failed[-1]["detail"]

        hook = monitoring.hook
        remediation = {
            "fault": "remediation",
            "instance": healer_a.url.removeprefix("http://"),
            "action": "start_domain",
        }
        missing = hook.wait(
            [
                ("firing", "KvmRemediationFailing", remediation),
                ("resolved", "VmCrashed", {"instance": a, "domain": crash.name()}),
            ],
            120,
        )
        assert not missing, missing
        # The port came back within the pager's group_wait: people were never paged for it.
        resolved = until(
            "BridgeUplinkDown resolved",
            lambda: [
                d
                for d in healer_a.records("decision")
                if d["alert"] == "BridgeUplinkDown" and d["status"] == "resolved"
            ],
        )
        assert (
            resolved[0]["remediated"] is True and resolved[0]["time_to_recover"] * FACTOR < OBJECTIVE_SECONDS
        )
        assert hook.find("firing", "KvmRemediationFailing", **remediation).receiver == "tickets"  # type: ignore[union-attr]
        assert not hook.wait([("resolved", "KvmRemediationFailing", remediation)], 60)

        samples = healer_a.metrics()
        healed = get(samples, "kvm_remediator_time_to_recover_seconds_count", remediated="true")
        assert healed is not None and healed >= 2  # the crash (on action) and the bridge (resolved)
        mean = get(samples, "kvm_remediator_time_to_recover_seconds_sum", remediated="true") / healed  # type: ignore[operator]
        assert mean * FACTOR < OBJECTIVE_SECONDS, mean
        # Alertmanager's repeats retry the failing start after each cooldown, until the breaker opens
        circuit = {"instance": remediation["instance"], "action": "start_domain", "target": broken.name()}
        assert not hook.wait([("firing", "KvmRemediatorCircuitOpen", circuit)], 120)
        samples = healer_a.metrics()
        assert get(samples, "kvm_remediator_actions_total", action="start_domain", result="failed") == 3
        assert {r["result"] for r in healer_b.actions()} == {"dry_run"} and not dry.isActive()
        ratio = prometheus_value(monitoring.prometheus, "kvm_remediator_self_heal_ratio")
        assert 0 < ratio <= 1


def prometheus_value(prometheus: str, expr: str) -> float:
    url = f"{prometheus}/api/v1/query?query={urllib.parse.quote(expr)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        result = json.loads(response.read())["data"]["result"]
    return max(float(s["value"][1]) for s in result) if result else float("nan")
