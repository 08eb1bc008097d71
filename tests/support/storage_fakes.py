"""Fake iscsiadm/zpool/zfs/ovs-vsctl set up in a temp dir (see fake_storage.py), and the flags that
point the exporter at them.

Faults: zfs_pool, iscsi_session, vswitch_down.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from support.domstats_fixtures import FIXTURES

FAKE = Path(__file__).parent / "fake_storage.py"


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
    for command in ("iscsiadm", "zpool", "zfs", "ovs-vsctl"):
        wrapper = bin_dir / command
        wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} {FAKE} {command} \"$@\"\n")
        wrapper.chmod(0o755)
    flags = [f"--iscsiadm.path={bin_dir / 'iscsiadm'}", f"--zpool.path={bin_dir / 'zpool'}",
             f"--zfs.path={bin_dir / 'zfs'}", f"--ovs-vsctl.path={bin_dir / 'ovs-vsctl'}"]
    return data, flags
