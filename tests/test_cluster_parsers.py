"""The cluster layer's pure parsers and family builders on captured outputs (tests/fixtures/
cluster/, see PROVENANCE.md): Pacemaker's crm_mon in both dialects and its CIB, corosync's
quorumtool and cfgtool, DRBD 9 status JSON and events2, DRBD 8.4 /proc/drbd."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from support.domstats_fixtures import FIXTURES

from exporter.collectors.corosync import link_families, quorum_families
from exporter.collectors.corosync.parse import parse_cfgtool, parse_quorumtool
from exporter.collectors.drbd import resource_families
from exporter.collectors.drbd.parse import (
    parse_events2,
    parse_proc_drbd,
    parse_status_json,
    split_brain_markers,
)
from exporter.collectors.pacemaker import (
    DomainNames,
    constraint_families,
    failure_families,
    node_families,
    summary_families,
)
from exporter.collectors.pacemaker import resource_families as pacemaker_resource_families
from exporter.collectors.pacemaker.parse import (
    INFINITY,
    parse_cib_configuration,
    parse_crm_mon,
    parse_time,
)
from exporter.metrics import Family

CLUSTER = FIXTURES / "cluster"


def text(path: str) -> str:
    return (CLUSTER / path).read_text()


def values(families: list[Family], name: str) -> dict[tuple[str, ...], float]:
    family = next(f for f in families if f.name == "kvm_" + name)
    return {tuple(labels): value for labels, value in family.rows}


# --- Pacemaker -------------------------------------------------------------------------

def test_every_crm_mon_capture_parses_in_both_dialects() -> None:
    for path in sorted((CLUSTER / "crm_mon").glob("*.xml")):
        status = parse_crm_mon(path.read_text())
        assert status.nodes, path.name
        assert all(r.agent.count("::") == 0 for r in status.resources), path.name


def test_a_killed_virtualdomain_shows_its_failed_monitor_fail_count_and_restart() -> None:
    status = parse_crm_mon(text("crm_mon/kvmxt_virtualdomain-failed-restarted.xml"))
    failures = values(failure_families(status), "pacemaker_resource_failures")
    assert failures[("havm", "kvmxt-node1")] == 1
    assert failures[("vip", "kvmxt-node1")] == 0
    assert values(failure_families(status), "pacemaker_migration_threshold")[("havm", "kvmxt-node1")] == 3
    failed = values(failure_families(status), "pacemaker_failed_action_timestamp_seconds")
    [(key, when)] = failed.items()
    assert key == ("havm", "kvmxt-node1", "monitor", "5000", "7", "not running")
    assert when == parse_time("2026-12-01 22:02:15Z")
    roles = values(pacemaker_resource_families(status, {"havm": "kvmxt-havm"}, None),
                   "pacemaker_resource_role")
    assert roles[("havm", "kvmxt-node1", "Started")] == 1  # restarted after the failure


def test_a_ban_is_a_cli_ban_constraint_and_maintenance_mode_unmanages_everything() -> None:
    ban = parse_crm_mon(text("crm_mon/kvmxt_cli-ban.xml"))
    constraints = values(constraint_families(ban.bans), "pacemaker_location_constraint")
    assert constraints == {("cli-ban-havm-on-kvmxt-node1", "havm", "kvmxt-node1", "", "cli-ban"): -INFINITY}
    maintenance = parse_crm_mon(text("crm_mon/kvmxt_maintenance-mode.xml"))
    assert values(summary_families(maintenance), "pacemaker_maintenance_mode")[()] == 1
    assert values(summary_families(ban), "pacemaker_maintenance_mode")[()] == 0
    managed = values(pacemaker_resource_families(maintenance, {}, None), "pacemaker_resource_status")
    assert {k: v for k, v in managed.items() if k[2] == "managed"} == {
        ("havm", "kvmxt-node1", "managed"): 0, ("vip", "kvmxt-node1", "managed"): 0}


def test_standby_and_unclean_nodes_from_real_cibs_rendered_by_crm_mon() -> None:
    standby = parse_crm_mon(text("crm_mon/rendered_pacemaker-scheduler_standby.xml"))
    flags = values(node_families(standby), "pacemaker_node_status")
    assert sorted(k[0] for k, v in flags.items() if k[2] == "standby" and v) == ["sapcl02", "sapcl03"]
    fenced = parse_crm_mon(text("crm_mon/rendered_pacemaker-scheduler_stonith-4.xml"))
    flags = values(node_families(fenced), "pacemaker_node_status")
    assert sorted(k[0] for k, v in flags.items() if k[2] == "unclean" and v) == [
        "pcmk-10", "pcmk-5", "pcmk-7", "pcmk-8"]
    # online: pcmk-1, the pending pcmk-2/3/11 and the UNCLEAN online pcmk-7/10 (pending pcmk-9 is offline)
    assert sum(v for k, v in flags.items() if k[2] == "online") == 6
    assert sorted(k[0] for k, v in flags.items() if k[2] == "pending" and v) == ["pcmk-11", "pcmk-2",
                                                                                 "pcmk-3", "pcmk-9"]


def test_a_failed_virtualdomain_active_on_two_nodes() -> None:
    status = parse_crm_mon(text("crm_mon/rendered_pacemaker-scheduler_not-reschedule-unneeded-monitor.xml"))
    flags = values(pacemaker_resource_families(status, {}, None), "pacemaker_resource_status")
    assert {k[1] for k, v in flags.items() if k[0] == "sle12-kvm" and k[2] == "failed" and v} == {
        "castor", "kimball"}


def test_legacy_crm_mon_and_resources_grouped_by_node() -> None:
    status = parse_crm_mon(text("crm_mon/ha_cluster_exporter_fake_crm_mon_2019-10-23.xml"))
    assert status.dialect == "crm_mon"
    assert {(r.id, r.node) for r in status.resources if r.agent == "ocf:heartbeat:IPaddr2"} == {
        ("rsc_ip_PRD_HDB00", "hana01")}
    roles = values(pacemaker_resource_families(status, {}, None), "pacemaker_resource_role")
    assert roles[("rsc_SAPHana_PRD_HDB00", "hana02", "Slave")] == 1


def test_clone_instances_stopped_everywhere_share_one_series() -> None:
    status = parse_crm_mon(text("crm_mon/hawk-apiserver_crm-mon-2.xml"))
    roles = values(pacemaker_resource_families(status, {}, None), "pacemaker_resource_role")
    assert max(roles.values()) > 1  # the clone's stopped instances, counted under node ""
    assert all(k[1] == "" for k, v in roles.items() if v > 1)


def test_blank_times_of_pacemakers_own_tests_are_accepted() -> None:
    status = parse_crm_mon(text("crm_mon/pacemaker-cts_partially-active_failures.xml"))
    assert status.last_change is None
    assert [(f.resource, f.task, f.exitcode, f.last_rc_change) for f in status.failures] == [
        ("dummy-2", "monitor", "3", None)]  # the test harness dropped last-rc-change
    names = {f.name for f in summary_families(status)}
    assert "kvm_pacemaker_config_last_change_timestamp_seconds" not in names


def test_the_cib_gives_cli_prefer_constraints_and_virtualdomain_parameters(tmp_path: Path) -> None:
    preferred = parse_cib_configuration(text("cib/pacemaker-scheduler_bug-5025-1.cib.xml"))
    assert [(c.id, c.kind, c.score) for c in preferred.constraints] == [
        ("cli-prefer-virt-fencing", "cli-prefer", INFINITY)]
    ours = parse_cib_configuration(text("cib/kvmxt_configuration_virtualdomain-ipaddr2.xml"))
    [vd] = [p for p in ours.primitives if p.agent == "ocf:heartbeat:VirtualDomain"]
    xml = tmp_path / "havm.xml"
    xml.write_text("<domain type='kvm'><name>kvmxt-havm</name></domain>")
    names = DomainNames()
    assert parse_time("2026-12-01 22:02:15Z") == 1796162535
    assert names.name_of(str(xml)) == "kvmxt-havm"
    xml.write_text("<domain type='kvm'><name>renamed</name></domain>")
    future = time.time_ns() + 10**9
    import os
    os.utime(xml, ns=(future, future))
    assert names.name_of(str(xml)) == "renamed"
    assert names.name_of(vd.parameters["config"] + ".missing") == "" and names.errors == 1
    status = parse_crm_mon(text("crm_mon/kvmxt_healthy.xml"))
    info = values(pacemaker_resource_families(status, {"havm": "kvmxt-havm"}, ours),
                  "pacemaker_resource_info")
    assert info[("havm", "ocf:heartbeat:VirtualDomain", "", "", "kvmxt-havm")] == 1
    vip = values(pacemaker_resource_families(status, {}, ours), "pacemaker_vip_info")
    assert vip == {("vip", "127.0.0.77", "kvmxt-node1"): 1}


@pytest.mark.parametrize("garbage", ["", "not xml", "<html/>", "<pacemaker-result><status code='102' "
                                     "message='Not connected'/></pacemaker-result>"])
def test_crm_mon_garbage_is_refused(garbage: str) -> None:
    with pytest.raises(ValueError):
        parse_crm_mon(garbage)


# --- corosync ----------------------------------------------------------------------------

def test_quorum_lost_with_one_of_two_nodes_running() -> None:
    quorum = parse_quorumtool(text("corosync/kvmxt_quorumtool-p_2node-1-running_not-quorate.txt"))
    families = quorum_families(quorum)
    assert values(families, "corosync_quorate")[()] == 0
    assert values(families, "corosync_activity_blocked")[()] == 1
    assert values(families, "corosync_quorum_votes") == {
        ("expected_votes",): 2, ("highest_expected",): 2, ("total_votes",): 1, ("quorum",): 2}
    assert values(families, "corosync_member_votes") == {("1", "kvmxt-node1", "true"): 1}
    healthy = quorum_families(parse_quorumtool(text("corosync/kvmxt_quorumtool-p_1node_quorate.txt")))
    assert values(healthy, "corosync_quorate")[()] == 1
    assert values(healthy, "corosync_quorum_flag")[("Quorate",)] == 1


def test_qdevice_rows_and_columns() -> None:
    blocked = parse_quorumtool(text("corosync/pcs_test_quorumtool-p_not-quorate_qdevice.txt"))
    assert (blocked.quorate, blocked.qdevice_votes, [m.name for m in blocked.members]) == (False, 0,
                                                                                           ["rh70-node1"])
    columns = parse_quorumtool(text("corosync/ha_cluster_exporter_parser-test_quorumtool_qdevice-column.txt"))
    assert [(m.node_id, m.name, m.local, m.qdevice) for m in columns.members] == [
        ("1", "192.168.127.20", False, "NR"), ("2", "192.168.127.21", True, "NR")]
    assert columns.flags == ["2Node", "Quorate", "WaitForAll"]


def test_links_knet_disconnected_and_corosync2_ring_faulty() -> None:
    knet = link_families(parse_cfgtool(text("corosync/kvmxt_cfgtool-s_knet_peer-disconnected.txt")))
    assert values(knet, "corosync_link_connected") == {("0", "2"): 0}
    healthy = link_families(parse_cfgtool(text("corosync/pacemaker-doc_corosync-cfgtool-s_knet.txt")))
    assert values(healthy, "corosync_link_connected") == {("0", "2"): 1}
    faulty = text("corosync/ha_cluster_exporter_fake_corosync-cfgtool_ring-faulty.txt")
    rings = link_families(parse_cfgtool(faulty))
    assert values(rings, "corosync_ring_faulty") == {("0", "10.0.0.1"): 1, ("1", "172.16.0.1"): 0}


@pytest.mark.parametrize("garbage", ["", "Cannot initialize CMAP service\n", "Quorum information\n"])
def test_corosync_garbage_is_refused(garbage: str) -> None:
    with pytest.raises(ValueError):
        parse_quorumtool(garbage)
    with pytest.raises(ValueError):
        parse_cfgtool(garbage)


# --- DRBD ---------------------------------------------------------------------------------

def test_drbd9_status_json_healthy() -> None:
    resources = parse_status_json(text("drbd/ha_cluster_exporter_fake_drbdsetup-status-json_2019-10-18.json"))
    families = resource_families(resources, set())
    key = ("1-single-0", "1", "SLE15-sp1-gm-drbd1145296-node1")
    assert values(families, "drbd_connection_state")[(*key, "Connected")] == 1
    assert values(families, "drbd_peer_device_replication_state")[(*key, "0", "Established")] == 1
    assert values(families, "drbd_peer_device_sync_ratio")[(*key, "0")] == 1
    assert values(families, "drbd_device_size_bytes")[("1-single-0", "0")] == 409600 * 1024
    assert values(families, "drbd_split_brain")[("1-single-0", "0")] == 0


def test_drbd9_events2_replayed_standalone_then_syncing() -> None:
    lines = text("drbd/drbd-utils_events2-statistics_sync.txt").splitlines(keepends=True)
    created = "".join(line for line in lines if not line.startswith("change"))
    [standalone] = parse_events2(created)
    assert [(c.state, c.peer_devices[0].replication_state, c.peer_devices[0].peer_disk_state)
            for c in standalone.connections] == [("StandAlone", "Off", "DUnknown")]
    assert standalone.devices[0].disk_state == "Diskless"
    families = resource_families(parse_events2("".join(lines)), set())
    key = ("some-resource", "1", "some-peer", "0")
    assert values(families, "drbd_peer_device_replication_state")[(*key, "SyncSource")] == 1
    assert values(families, "drbd_peer_device_sync_ratio")[key] == pytest.approx(0.375)
    assert values(families, "drbd_peer_device_out_of_sync_bytes")[key] == 2500 * 1024
    assert values(families, "drbd_peer_device_pending")[key] == 30


def test_drbd84_proc_connected_syncing_and_waiting_for_the_peer() -> None:
    syncing = resource_families(parse_proc_drbd(text("drbd/pacemaker-doc_proc-drbd-8.4_syncsource.txt")),
                                set())
    key = ("drbd1", "", "", "0")
    assert values(syncing, "drbd_peer_device_replication_state")[(*key, "SyncSource")] == 1
    assert values(syncing, "drbd_peer_device_sync_ratio")[key] == pytest.approx(0.086)
    assert values(syncing, "drbd_peer_device_out_of_sync_bytes")[key] == 481052 * 1024
    assert values(syncing, "drbd_connection_protocol")[("drbd1", "", "", "C")] == 1
    waiting = resource_families(parse_proc_drbd(text("drbd/pacemaker-doc_proc-drbd-8.4_wfconnection.txt")),
                                set())
    assert values(waiting, "drbd_connection_state")[("drbd1", "", "", "WFConnection")] == 1
    assert values(waiting, "drbd_connection_peer_role")[("drbd1", "", "", "Unknown")] == 1
    assert parse_proc_drbd("version: 9.2.4 (api:2/proto:86-122)\n") == []


def test_split_brain_markers() -> None:
    markers = split_brain_markers(["drbd-split-brain-detected-r0-0", "drbd-split-brain-detected-vm-data-1",
                                   "unrelated"])
    assert markers == {("r0", "0"), ("vm-data", "1")}
    families = resource_families([], markers)
    assert values(families, "drbd_split_brain") == {("r0", "0"): 1, ("vm-data", "1"): 1}


@pytest.mark.parametrize("garbage", ["", "{}", "[{\"no-name\": 1}]", "garbage\n", "Segmentation fault\n"])
def test_drbd_garbage_is_refused(garbage: str) -> None:
    with pytest.raises(ValueError):
        parse_status_json(garbage)
    with pytest.raises(ValueError):
        parse_events2(garbage)
    with pytest.raises(ValueError):
        parse_proc_drbd(garbage)
