"""Fake iscsiadm/zpool/zfs/ovs-vsctl/drbdsetup and cluster tools set up in a temp dir (see
fake_storage.py), and the flags that point the exporter at them.

Faults: zfs_pool, iscsi_session, vswitch_down, replication_lag.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from support.domstats_fixtures import FIXTURES

FAKE = Path(__file__).parent / "fake_storage.py"
DRBD_HEALTHY = "ha_cluster_exporter_fake_drbdsetup-status-json_2019-10-18.json"
CLUSTER_TOOLS = {"crm_mon": "pacemaker.crm-mon-path", "cibadmin": "pacemaker.cibadmin-path",
                 "corosync-quorumtool": "corosync.quorumtool-path",
                 "corosync-cfgtool": "corosync.cfgtool-path"}


def build_fake_storage(tmp_path: Path) -> tuple[Path, list[str]]:
    """(FAKE_STORAGE_DIR, exporter flags) with the captured outputs in place."""
    data = tmp_path / "fake-storage"
    shutil.copytree(FIXTURES / "zfs-fake", data)
    (data / "iscsiadm").mkdir()
    stats = (FIXTURES / "iscsiadm" / "session-stats.txt").read_text()
    for sid in ("1", "4"):
        (data / "iscsiadm" / f"session-{sid}.txt").write_text(stats.replace("sid: 1", f"sid: {sid}"))
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    (data / "ovs-vsctl").mkdir()
    shutil.copy(FIXTURES / "ovs" / "ovs-vsctl-3.1-netdev.json", data / "ovs-vsctl" / "tables.json")
    (data / "drbdsetup").mkdir()
    shutil.copy(FIXTURES / "cluster" / "drbd" / DRBD_HEALTHY, data / "drbdsetup" / "status.json")
    cluster = FIXTURES / "cluster"
    for command, name, fixture in (
        ("crm_mon", "status.xml", "crm_mon/kvmxt_healthy.xml"),
        ("cibadmin", "configuration.xml", "cib/kvmxt_configuration_virtualdomain-ipaddr2.xml"),
        ("corosync-quorumtool", "p.txt", "corosync/kvmxt_quorumtool-p_1node_quorate.txt"),
        ("corosync-cfgtool", "s.txt", "corosync/kvmxt_cfgtool-s_knet_1node.txt"),
    ):
        (data / command).mkdir()
        shutil.copy(cluster / fixture, data / command / name)
    # the captured VirtualDomain's domain XML lived in a scratch dir: give it one here
    domain_xml = data / "kvmxt-havm.xml"
    domain_xml.write_text("<domain type='kvm'><name>kvmxt-havm</name></domain>")
    configuration = data / "cibadmin" / "configuration.xml"
    configuration.write_text(configuration.read_text().replace("/tmp/cs/kvmxt-havm.xml", str(domain_xml)))
    for command in ("iscsiadm", "zpool", "zfs", "ovs-vsctl", "drbdsetup", *CLUSTER_TOOLS):
        wrapper = bin_dir / command
        wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} {FAKE} {command} \"$@\"\n")
        wrapper.chmod(0o755)
    flags = [f"--iscsiadm.path={bin_dir / 'iscsiadm'}", f"--zpool.path={bin_dir / 'zpool'}",
             f"--zfs.path={bin_dir / 'zfs'}", f"--ovs-vsctl.path={bin_dir / 'ovs-vsctl'}",
             f"--drbd.drbdsetup-path={bin_dir / 'drbdsetup'}",
             f"--drbd.split-brain-dir={data / 'split-brain'}",
             *(f"--{flag}={bin_dir / command}" for command, flag in CLUSTER_TOOLS.items())]
    return data, flags
