"""The cluster collectors against a real corosync + Pacemaker cluster (tests/support/cluster.py):
a VirtualDomain resource managing a real KVM domain, its QEMU SIGKILLed, a ban left behind,
maintenance mode; and the software-absent, hanging and garbage-printing cases through fakes."""

from __future__ import annotations

import os
import shutil
import signal
import uuid
from pathlib import Path

import psutil
import pytest
from support.cluster import NODE, Cluster
from support.domstats_fixtures import FIXTURES
from support.netns import run
from support.scrape import Samples, exporter, get, only, series
from support.storage_fakes import build_fake_storage
from support.waiting import until

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="needs root (corosync, pacemaker, libvirtd)"),
              pytest.mark.slow]

CLUSTER_ONLY = (*only("pacemaker", "corosync"), "--pacemaker.interval=1s", "--corosync.interval=1s")


def qemu_of(domain: str) -> psutil.Process | None:
    for process in psutil.process_iter(["cmdline"]):
        if f"guest={domain}," in " ".join(process.info["cmdline"] or []):
            return process
    return None


def test_a_virtualdomain_resource_is_mapped_fails_is_banned_and_unmanaged(ha_cluster: Cluster) -> None:
    domain = f"kvmxt-havm-{uuid.uuid4().hex[:6]}"
    ha_cluster.virtual_domain("havm", domain)
    ha_cluster.add('<primitive id="vip" class="ocf" provider="heartbeat" type="IPaddr2">'
                   '<instance_attributes id="vip-ia"><nvpair id="vip-ip" name="ip" value="127.0.0.77"/>'
                   '<nvpair id="vip-nic" name="nic" value="lo"/><nvpair id="vip-cidr" name="cidr_netmask" '
                   'value="32"/></instance_attributes><operations><op id="vip-mon" name="monitor" '
                   'interval="5s"/></operations></primitive>')
    try:
        with exporter(*CLUSTER_ONLY) as running:
            def started(samples: Samples) -> bool:
                return get(samples, "kvm_pacemaker_resource_role", resource="havm", node=NODE,
                           role="Started") == 1

            samples = until("havm started", lambda: s if started(s := running.scrape()) else None, 90)
            assert get(samples, "kvm_pacemaker_present") == 1 and get(samples, "kvm_pacemaker_up") == 1
            assert series(samples, "kvm_pacemaker_resource_info", resource="havm")[0]["domain"] == domain
            assert get(samples, "kvm_pacemaker_vip_info", resource="vip", ip="127.0.0.77", node=NODE) == 1
            assert get(samples, "kvm_pacemaker_node_status", node=NODE, status="dc", type="member") == 1
            assert get(samples, "kvm_corosync_quorate") == 1
            assert get(samples, "kvm_pacemaker_migration_threshold", resource="havm", node=NODE) == 3

            qemu = until("the domain's QEMU", lambda: qemu_of(domain), 30)
            os.kill(qemu.pid, signal.SIGKILL)

            def recovered(samples: Samples) -> bool:
                return (get(samples, "kvm_pacemaker_resource_failures", resource="havm", node=NODE) == 1
                        and started(samples) and qemu_of(domain) is not None)

            samples = until("fail count 1 and havm restarted", lambda: s if recovered(s := running.scrape())
                            else None, 90)
            [failed] = series(samples, "kvm_pacemaker_failed_action_timestamp_seconds", resource="havm")
            # 7 (not running) or 1 (error), as the monitor catches the domain shut off or still going
            assert (failed["task"], failed["interval_ms"]) == ("monitor",
                                                               "2000") and failed["exitcode"] != "0"

            run("crm_resource", "--ban", "--resource", "havm", "--node", NODE)
            constraint = f"cli-ban-havm-on-{NODE}"
            samples = until("the ban reported", lambda: s if series(
                s := running.scrape(), "kvm_pacemaker_location_constraint", constraint=constraint)
                else None, 30)
            [ban] = series(samples, "kvm_pacemaker_location_constraint", constraint=constraint)
            assert ban == {"constraint": constraint, "kind": "cli-ban", "resource": "havm", "node": NODE,
                           "role": "Started"}
            assert get(samples, "kvm_pacemaker_location_constraint", **ban) == -1_000_000
            run("crm_resource", "--clear", "--resource", "havm")
            until("the ban gone", lambda: not series(running.scrape(), "kvm_pacemaker_location_constraint",
                                                     constraint=constraint), 30)

            ha_cluster.set_option("maintenance-mode", "true")
            samples = until("maintenance reported", lambda: s if get(
                s := running.scrape(), "kvm_pacemaker_maintenance_mode") == 1 else None, 30)
            assert get(samples, "kvm_pacemaker_resource_status", resource="vip", node=NODE,
                       status="managed") == 0
            ha_cluster.set_option("maintenance-mode", "false")
            until("maintenance over", lambda: get(running.scrape(), "kvm_pacemaker_maintenance_mode") == 0,
                  30)
    finally:
        ha_cluster.set_option("maintenance-mode", "false")
        for resource in ("havm", "vip"):
            ha_cluster.remove(resource)
    until("the cluster stopped the domain", lambda: qemu_of(domain) is None, 30)


def test_a_host_without_the_software_runs_nothing(tmp_path: Path) -> None:
    data, _flags = build_fake_storage(tmp_path)
    missing = tmp_path / "not-installed"
    with exporter(*only("pacemaker", "corosync", "drbd"), f"--pacemaker.crm-mon-path={missing}",
                  f"--corosync.quorumtool-path={missing}", f"--drbd.drbdsetup-path={missing}",
                  f"--path.procfs={tmp_path}") as running:
        samples = running.scrape()
    for name in ("pacemaker", "corosync", "drbd"):
        assert get(samples, f"kvm_{name}_present") == 0
        assert get(samples, f"kvm_{name}_up") is None
    assert not any(n.startswith(("kvm_pacemaker_", "kvm_corosync_",
                                 "kvm_drbd_")) and not n.endswith("_present")
                   for n, _ in samples), "a collector without its software served more than its absence"
    assert not (data / "calls.log").exists(), "a command ran"


def test_drbd_hanging_or_garbage_keeps_the_last_answer(tmp_path: Path) -> None:
    data, flags = build_fake_storage(tmp_path)
    fake = data / "drbdsetup"
    env = {**os.environ, "FAKE_STORAGE_DIR": str(data)}
    key = {"resource": "1-single-0", "peer_node_id": "1", "peer": "SLE15-sp1-gm-drbd1145296-node1"}
    with exporter(*only("drbd"), *flags, "--drbd.interval=1s", "--drbd.timeout=1s", env=env) as running:
        samples = until("drbd up", lambda: s if get(s := running.scrape(), "kvm_drbd_up") == 1 else None, 20)
        assert get(samples, "kvm_drbd_source_info", source="status-json") == 1
        assert get(samples, "kvm_drbd_connection_state", **key, state="Connected") == 1
        for mode, reason in (("hang", "timeout"), ("garbage", "garbage")):
            (fake / mode).write_text("Segmentation fault\n")
            samples = until(f"drbdsetup {mode}", lambda r=reason: s if get(
                s := running.scrape(), "kvm_drbd_command_error", command="drbdsetup", reason=r) == 1
                else None, 20)
            assert get(samples, "kvm_drbd_up") == 0
            assert get(samples, "kvm_drbd_connection_state", **key, state="Connected") == 1  # kept
            assert get(samples, "kvm_poller_errors_total", poller="drbd", reason=reason) >= 1
            (fake / mode).unlink()
            until("drbd back", lambda: get(running.scrape(), "kvm_drbd_up") == 1, 20)
        (data / "split-brain").mkdir()
        (data / "split-brain" / "drbd-split-brain-detected-1-single-0-0").touch()
        until("split-brain", lambda: get(running.scrape(), "kvm_drbd_split_brain", resource="1-single-0",
                                         volume="0") == 1, 20)


def test_drbd_without_json_falls_back_to_events2_and_84_reads_proc(tmp_path: Path) -> None:
    data, flags = build_fake_storage(tmp_path)
    (data / "drbdsetup" / "status.json").unlink()
    shutil.copy(FIXTURES / "cluster" / "drbd" / "drbd-utils_events2-statistics_sync.txt",
                data / "drbdsetup" / "events2.txt")
    env = {**os.environ, "FAKE_STORAGE_DIR": str(data)}
    key = {"resource": "some-resource", "peer_node_id": "1", "peer": "some-peer", "volume": "0"}
    with exporter(*only("drbd"), *flags, "--drbd.interval=1s", env=env) as running:
        samples = until("events2", lambda: s if get(s := running.scrape(), "kvm_drbd_up") == 1 else None, 20)
    assert get(samples, "kvm_drbd_source_info", source="events2") == 1
    assert get(samples, "kvm_drbd_peer_device_replication_state", **key, state="SyncSource") == 1
    procfs = tmp_path / "proc"
    procfs.mkdir()
    shutil.copy(FIXTURES / "cluster" / "drbd" / "pacemaker-doc_proc-drbd-8.4_wfconnection.txt",
                procfs / "drbd")
    with exporter(*only("drbd"), f"--drbd.drbdsetup-path={tmp_path / 'none'}",
                  f"--path.procfs={procfs}") as running:
        samples = until("proc", lambda: s if get(s := running.scrape(), "kvm_drbd_up") == 1 else None, 20)
    assert get(samples, "kvm_drbd_source_info", source="proc") == 1
    assert get(samples, "kvm_drbd_connection_state", resource="drbd1", peer_node_id="", peer="",
               state="WFConnection") == 1
