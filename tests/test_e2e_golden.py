"""End to end, node_exporter style: the real `kvm-exporter` process on fixed inputs, its
whole /metrics diffed against tests/fixtures/e2e-output.prom.

Regenerate after an intended change with:  KVM_EXPORTER_UPDATE_GOLDEN=1 pytest tests/test_e2e_golden.py
and review the diff. Values that differ by run or machine (durations, the exporter's own
process, version labels) are normalised before comparing.
"""

from __future__ import annotations

import os
import re
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.domstats_fixtures import FIXTURES, LIBVIRT_FIXTURES
from support.promtool import check_metrics
from support.scrape import free_port, serving
from support.smart_fakes import FAKE, build_fake_smartctl
from support.storage_fakes import build_fake_storage

GOLDEN = FIXTURES / "e2e-output.prom"
# The test driver derives domain CPU times from the clock; they differ by run.
VOLATILE_VALUES = re.compile(
    r"^(kvm_scrape_collector_duration_seconds|kvm_exporter_process_\w+|kvm_domain_cpu_\w+"
    r"|kvm_smart_device_last_success_timestamp_seconds|kvm_libvirt_config_file_modified_time_seconds"
    r"|kvm_zfs_last_success_timestamp_seconds|kvm_ovs_last_success_timestamp_seconds"
    r"|kvm_poller_last_success_timestamp_seconds|kvm_(?:pacemaker|corosync|drbd)_last_success_timestamp_seconds)"
    r"(\{[^}]*\})? .*$", re.M)
VERSION_LABELS = re.compile(r'((?:python_version|libvirt_version|version)=)"[^"]*"')


def normalise(text: str) -> str:
    text = VOLATILE_VALUES.sub(lambda m: f"{m.group(1)}{m.group(2) or ''} 0", text)
    return VERSION_LABELS.sub(r'\1"X"', text)


@pytest.fixture
def exporter_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    fake = build_fake_smartctl(tmp_path, hang=False)
    storage, storage_flags = build_fake_storage(tmp_path)
    uri = f"test://{LIBVIRT_FIXTURES / 'test-node.xml'}"
    command = [
        sys.executable, "-m", "exporter", f"--web.listen-address=127.0.0.1:{port}",
        f"--libvirt.uri={uri}", f"--path.sysfs={FIXTURES / 'sysfs' / 'sys'}",
        f"--path.procfs={FIXTURES / 'procfs'}", f"--path.rootfs={FIXTURES / 'rootfs'}",
        f"--smartctl.path={FAKE}", "--path.kmsg=/dev/null",
        f"--libvirt.config-dir={FIXTURES / 'libvirt-config'}", "--collector.libvirt",
        "--collector.process", "--collector.thermal", "--collector.edac", "--collector.smart",
        "--collector.kvm", "--collector.host", "--collector.kernel", "--collector.qemu",
        "--collector.config", "--collector.network", "--no-network.ethtool", "--collector.mdraid",
        "--collector.zfs", "--collector.iscsi", "--collector.storage", "--collector.ovs", *storage_flags]
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "FAKE_SMARTCTL_DIR": str(fake), "FAKE_STORAGE_DIR": str(storage)}
    with serving(command, f"{url}/-/ready", env=env):
        yield url


def test_metrics_match_golden_file(exporter_url: str) -> None:
    with urllib.request.urlopen(f"{exporter_url}/metrics", timeout=30) as response:
        text = normalise(response.read().decode())
    if os.environ.get("KVM_EXPORTER_UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), "run with KVM_EXPORTER_UPDATE_GOLDEN=1 and review the diff"


def test_golden_file_passes_promtool() -> None:
    assert check_metrics(Path(GOLDEN).read_text()) == ""
