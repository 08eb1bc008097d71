"""The fake smartctl (support/fake_smartctl.py) and the captures it replays per device.

Faults: disk_smart.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from support.domstats_fixtures import FIXTURES

CAPTURES = FIXTURES / "smartctl"
FAKE = Path(__file__).parent / "fake_smartctl.py"


def build_fake_smartctl(root: Path, *, hang: bool = True) -> Path:
    """A FAKE_SMARTCTL_DIR replaying seven devices: failing ATA, healthy ATA, NVMe with media
    errors, SCSI with grown defects, one that hangs, one printing garbage, one asleep."""
    tmp_path = root
    devices = tmp_path / "devices"
    devices.mkdir()
    scan = {"json_format_version": [1, 0], "smartctl": {"version": [7, 3], "exit_status": 0},
            "devices": [{"name": f"/dev/{n}", "type": t} for n, t in
                        (("sda", "sat"), ("sdb", "sat"), ("nvme0", "nvme"), ("sdc", "scsi"),
                         ("sdd", "sat"), ("sde", "sat"), ("sdf", "sat"))]}
    (tmp_path / "scan.json").write_text(json.dumps(scan))
    shutil.copy(CAPTURES / "scrutiny/smart-fail2.json", devices / "sda.json")
    shutil.copy(CAPTURES / "scrutiny/smart-ata-full.json", devices / "sdb.json")
    shutil.copy(CAPTURES / "scrutiny/smart-nvme-failed.json", devices / "nvme0.json")
    shutil.copy(CAPTURES / "scrutiny/smart-scsi.json", devices / "sdc.json")
    if hang:
        (devices / "sdd.hang").touch()
    else:
        shutil.copy(CAPTURES / "scrutiny/smart-nvme.json", devices / "sdd.json")
    (devices / "sde.garbage").write_bytes(b"smartctl 7.3 \x00\xff Segmentation fault\n")
    shutil.copy(CAPTURES / "own/standby.json", devices / "sdf.json")
    return tmp_path
