"""Storage collectors on captured data: md RAID (node_exporter's mdstat, side by side with
node_exporter 1.5.0), ZFS (real `zpool status` JSON and text, kstat from a real OpenZFS 2.x
host) through fake zpool/zfs, and iSCSI (sysfs tree after a real `iscsiadm -P3`, node
records with CHAP secrets) through a fake iscsiadm.

Faults: iscsi_session, zfs_pool, raid_degraded.
"""

from __future__ import annotations

import os
import shutil
import urllib.request
from pathlib import Path

import pytest
from support.domstats_fixtures import FIXTURES
from support.scrape import exporter, free_port, get, only, parse_samples, series, serving, wait_until
from support.storage_fakes import build_fake_storage

from exporter.collectors.mdraid.mdstat import parse_mdstat

SYSFS = FIXTURES / "sysfs" / "sys"
PROCFS = FIXTURES / "procfs"
ROOTFS = FIXTURES / "rootfs"
ONLY = only()
PATHS = (f"--path.sysfs={SYSFS}", f"--path.procfs={PROCFS}", f"--path.rootfs={ROOTFS}")


# --- md RAID -------------------------------------------------------------------------


def test_mdstat_arrays() -> None:
    arrays = {a.device: a for a in parse_mdstat((PROCFS / "mdstat").read_text())}
    md6 = arrays["md6"]
    assert (md6.state, md6.level, md6.required, md6.in_sync, md6.failed, md6.spare) == (
        "active",
        "raid1",
        2,
        1,
        1,
        1,
    )
    assert (md6.sync_action, md6.sync_blocks_done, md6.sync_blocks_total) == ("recovery", 16775552, 195310144)
    assert arrays["md4"].state == "inactive"
    assert (arrays["md9"].sync_action, arrays["md9"].sync_waiting) == ("resync", True)
    assert arrays["md11"].read_only == "auto-read-only"
    assert arrays["md7"].required == 4 and arrays["md7"].in_sync == 3


def test_mdstat_without_a_blocks_line_is_an_error() -> None:
    with pytest.raises(ValueError, match="md0 has no blocks line"):
        parse_mdstat("Personalities : [raid1]\nmd0 : active raid1 sda1[0]\n\nunused devices: <none>\n")


NODE_EXPORTER = shutil.which("prometheus-node-exporter")


@pytest.mark.skipif(NODE_EXPORTER is None, reason="Debian's prometheus-node-exporter is not installed")
def test_md_values_match_node_exporter(tmp_path: Path) -> None:
    port = free_port()
    command = [
        str(NODE_EXPORTER),
        f"--web.listen-address=127.0.0.1:{port}",
        "--collector.disable-defaults",
        "--collector.mdadm",
        f"--path.procfs={PROCFS}",
        f"--path.sysfs={SYSFS}",
        f"--path.rootfs={tmp_path}",
    ]
    url = f"http://127.0.0.1:{port}/metrics"
    with serving(command, url), urllib.request.urlopen(url, timeout=10) as response:
        theirs = parse_samples(response.read().decode())
    with exporter(*ONLY, "--collector.mdraid", *PATHS) as running:
        ours = running.scrape()
    compared = 0
    for node_name, our_name, extra in (
        ("node_md_blocks", "kvm_md_blocks", {}),
        ("node_md_blocks_synced", "kvm_md_blocks_synced", {}),
        ("node_md_disks", "kvm_md_disks", {"state": "failed"}),
        ("node_md_disks", "kvm_md_disks", {"state": "spare"}),
    ):
        for labels in series(theirs, node_name, **extra):
            assert get(ours, our_name, **labels) == get(theirs, node_name, **labels), (node_name, labels)
            compared += 1
    assert compared >= 40


def test_md_collector_reports_degraded_and_recovery() -> None:
    with exporter(*ONLY, "--collector.mdraid", *PATHS) as running:
        samples = running.scrape()
    assert get(samples, "kvm_md_degraded", device="md6") == 1
    assert get(samples, "kvm_md_degraded", device="md7") == 1
    assert get(samples, "kvm_md_degraded", device="md3") == 0
    assert get(samples, "kvm_md_sync_action", device="md6", action="recovery") == 1
    # sysfs (sync_completed "1569888 / 2093056") is exact where mdstat rounds
    assert get(samples, "kvm_md_sync_progress_ratio", device="md6") == pytest.approx(1569888 / 2093056)
    assert get(samples, "kvm_md_sync_progress_ratio", device="md8") == pytest.approx(16775552 / 195310144)
    assert get(samples, "kvm_md_disks_required", device="md7") == 4
    assert series(samples, "kvm_md_info", device="md0")[0]["array_state"] == "clean"  # from sysfs


# --- ZFS -----------------------------------------------------------------------------

ZFS_FLAGS = ("--collector.zfs", "--zfs.interval=300ms", "--zfs.timeout=2s")


def test_zfs_degraded_pool_from_real_json_with_kstats(tmp_path: Path) -> None:
    data, flags = build_fake_storage(tmp_path)
    env = {**os.environ, "FAKE_STORAGE_DIR": str(data)}
    with exporter(*ONLY, *ZFS_FLAGS, *PATHS, *flags, env=env) as running:
        samples = running.scrape()
    assert get(samples, "kvm_zfs_present") == 1
    assert get(samples, "kvm_zfs_up") == 1
    assert get(samples, "kvm_zfs_pool_state", pool="rpool", state="DEGRADED") == 1
    assert get(samples, "kvm_zfs_pool_state", pool="rpool", state="ONLINE") == 0
    faulted = {"pool": "rpool", "vdev": "wwn-0x5002538f55117008-part3"}
    assert get(samples, "kvm_zfs_vdev_online", **faulted) == 0
    assert get(samples, "kvm_zfs_vdev_read_errors_total", **faulted) == 2
    assert get(samples, "kvm_zfs_vdev_write_errors_total", **faulted) == 8
    assert series(samples, "kvm_zfs_vdev_info", **faulted)[0]["parent"] == "mirror-0"
    assert get(samples, "kvm_zfs_pool_last_scrub_end_time_seconds", pool="rpool") == 1764050594
    assert get(samples, "kvm_zfs_pool_scan_info", pool="rpool", function="scrub", state="finished") == 1
    assert get(samples, "kvm_zfs_pool_size_bytes", pool="rpool") == 498216206336
    assert get(samples, "kvm_zfs_pool_capacity_ratio", pool="rpool") == 0.19
    assert get(samples, "kvm_zfs_pool_autotrim_enabled", pool="zpool-ssd") == 0
    assert get(samples, "kvm_zfs_dataset_snapshots", dataset="rpool/data/vm-100-disk-0") == 2
    assert (
        get(samples, "kvm_zfs_dataset_newest_snapshot_timestamp_seconds", dataset="rpool/data/vm-100-disk-0")
        == 1764072001
    )
    assert get(samples, "kvm_zfs_arc_size_bytes") == 14960038920
    assert get(samples, "kvm_zfs_pool_io_total", pool="store", stat="arc_write_bytes") == 338748144404
    assert get(samples, "kvm_zfs_dataset_written_bytes_total", pool="store", dataset="store/010101") == 0
    assert get(samples, "kvm_collector_read_errors_total", collector="zfs") == 0
    calls = (data / "calls.log").read_text()
    assert "zpool status -j --json-int -p" in calls


@pytest.mark.slow  # waits out a hanging zpool
def test_zfs_text_fallback_scrub_in_progress_and_a_hanging_zpool(tmp_path: Path) -> None:
    data, flags = build_fake_storage(tmp_path)
    (data / "zpool" / "status.json").unlink()  # OpenZFS < 2.3: no -j
    shutil.copy(FIXTURES / "zfs" / "danjl1100-04-scrub-progress.txt", data / "zpool" / "status.txt")
    env = {**os.environ, "FAKE_STORAGE_DIR": str(data)}
    with exporter(*ONLY, *ZFS_FLAGS, *PATHS, *flags, env=env) as running:
        first = running.scrape()
        # a zpool without JSON is an old zpool, not a failing one
        assert get(first, "kvm_poller_up", poller="zfs") == 1
        assert series(first, "kvm_poller_errors_total", poller="zfs") == []
        assert get(first, "kvm_zfs_pool_scan_info", pool="neptune", function="scrub", state="scanning") == 1
        assert get(first, "kvm_zfs_pool_scan_progress_ratio", pool="neptune") == 0
        # the pool breaks: zpool status now shows it DEGRADED with a vdev UNAVAIL
        shutil.copy(FIXTURES / "zfs" / "danjl1100-01-corrupted.txt", data / "zpool" / "status.txt")
        degraded = wait_until(
            running.scrape, lambda s: get(s, "kvm_zfs_pool_state", pool="dummy", state="DEGRADED") == 1
        )
        assert get(degraded, "kvm_zfs_vdev_online", pool="dummy", vdev="loop3") == 0
        (data / "zpool" / "hang").touch()  # zpool hangs on the broken pool
        hung = wait_until(running.scrape, lambda s: get(s, "kvm_zfs_up") == 0)
    assert get(hung, "kvm_zfs_command_error", command="zpool_status", reason="timeout") == 1
    assert get(hung, "kvm_poller_up", poller="zfs") == 0
    assert (get(hung, "kvm_poller_errors_total", poller="zfs", reason="timeout") or 0) >= 1
    assert get(hung, "kvm_zfs_pool_state", pool="dummy", state="DEGRADED") == 1  # last answer kept
    # JSON was tried once; every later round went straight to the text form
    calls = (data / "calls.log").read_text().splitlines()
    assert sum("status -j" in line for line in calls) == 1
    assert sum(line.startswith("zpool status -p") for line in calls) >= 3


def test_zfs_absent_runs_nothing(tmp_path: Path) -> None:
    data, flags = build_fake_storage(tmp_path)
    env = {**os.environ, "FAKE_STORAGE_DIR": str(data)}
    with exporter(*ONLY, *ZFS_FLAGS, f"--path.procfs={tmp_path}", *flags, env=env) as running:
        samples = running.scrape()
    assert get(samples, "kvm_zfs_present") == 0
    assert not (data / "calls.log").exists()


# --- iSCSI ---------------------------------------------------------------------------

ISCSI_FLAGS = ("--collector.iscsi", "--iscsiadm.interval=300ms", "--iscsiadm.timeout=2s")


def test_iscsi_sessions_expected_logins_and_counters(tmp_path: Path) -> None:
    data, flags = build_fake_storage(tmp_path)
    env = {**os.environ, "FAKE_STORAGE_DIR": str(data)}
    with exporter(*ONLY, *ISCSI_FLAGS, *PATHS, *flags, env=env) as running:
        samples = running.scrape()
        with urllib.request.urlopen(f"{running.url}/metrics", timeout=10) as response:
            text = response.read().decode()
        stderr = running.stderr_after_exit()
    data_target = "iqn.2017-10.com.redhat.stirabos:data"
    assert get(samples, "kvm_iscsi_sessions") == 3
    assert get(samples, "kvm_iscsi_session_logged_in", sid="1", target=data_target) == 1
    assert (
        get(samples, "kvm_iscsi_session_logged_in", sid="5", target="iqn.2017-10.com.redhat.stirabos:vms")
        == 0
    )
    assert (
        get(
            samples,
            "kvm_iscsi_device_running",
            sid="5",
            target="iqn.2017-10.com.redhat.stirabos:vms",
            scsi_address="5:0:0:0",
            device="sdf",
            state="offline",
        )
        == 0
    )
    assert (
        get(samples, "kvm_iscsi_session_timeout_seconds", sid="1", target=data_target, timeout="recovery")
        == 5
    )
    assert series(samples, "kvm_iscsi_session_info", sid="1")[0]["portal"] == "192.168.1.125:3260"
    expected = {
        (s["target"].rsplit(":", 1)[1], s["portal"]): get(samples, "kvm_iscsi_node_logged_in", **s)
        for s in series(samples, "kvm_iscsi_node_logged_in")
    }
    assert expected == {
        ("data", "192.168.1.125:3260"): 1,
        ("he", "192.168.1.125:3260"): 1,
        ("vms", "192.168.1.126:3260"): 0,
        ("backup", "192.168.1.127:3260"): 0,
    }
    assert get(samples, "kvm_iscsi_session_tx_data_bytes_total", sid="1", target=data_target) == 337207169024
    assert (
        get(samples, "kvm_iscsi_session_pdus_total", sid="1", target=data_target, type="scsicmd") == 14375996
    )
    assert (
        get(
            samples,
            "kvm_iscsi_session_stats_error",
            sid="5",
            target="iqn.2017-10.com.redhat.stirabos:vms",
            reason="exit_21",
        )
        == 1
    )
    # CHAP secrets sit in the session attributes and the node records; they never come out.
    assert "s3cret" not in text and "s3cret" not in stderr
    assert "password" not in text
