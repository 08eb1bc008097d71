"""The storage collector against real libvirt domains: qcow2 images checked by the real
qemu-img (healthy, damaged by the test, missing), libvirt snapshots, a libvirt storage pool,
and a real tgt iSCSI target on loopback whose LUN a real QEMU domain uses through libiscsi.

Faults: virtual_disk, recovery_point, iscsi_session.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest
from support.guests import file_disk
from support.images import damage_refcount_table, qcow2
from support.scrape import Samples, exporter, free_port, get, only, series, wait_until

STORAGE_ONLY = (*only("storage"), "--qemu-img.check-interval=500ms")


def status(samples: Samples, domain: str, target: str) -> str | None:
    found = [
        s["status"]
        for s in series(samples, "kvm_domain_disk_check_status", domain=domain, target=target)
        if get(samples, "kvm_domain_disk_check_status", **s) == 1
    ]
    return found[0] if found else None


def test_qcow2_images_healthy_damaged_and_missing(domains) -> None:  # type: ignore[no-untyped-def]
    healthy, damaged, doomed = (
        qcow2(domains.tmp_path / f"{n}.qcow2") for n in ("healthy", "damaged", "doomed")
    )
    running = domains.create("vd", extra_devices=file_disk(healthy, "vdb") + file_disk(damaged, "vdc"))
    stopped = domains.create("vdoff", persistent=True, start=False, extra_devices=file_disk(doomed, "vdb"))
    damage_refcount_table(damaged)
    before = hashlib.sha256(damaged.read_bytes()).hexdigest()
    name, off = running.name(), stopped.name()
    with exporter(*STORAGE_ONLY) as exp:
        checked = wait_until(exp.scrape, lambda s: status(s, name, "vdc") and status(s, off, "vdb"))
        assert status(checked, name, "vdb") == "ok"
        assert status(checked, name, "vdc") == "corrupt"
        assert (get(checked, "kvm_domain_disk_check_corruptions", domain=name, target="vdc") or 0) >= 1
        assert get(checked, "kvm_domain_disk_check_corruptions", domain=name, target="vdb") == 0
        assert get(checked, "kvm_domain_disk_image_present", domain=name, target="vda") == 1
        assert status(checked, name, "vda") is None  # raw boot disk: nothing to check
        assert status(checked, off, "vdb") == "ok"
        doomed.unlink()
        missing = wait_until(exp.scrape, lambda s: status(s, off, "vdb") == "missing")
    assert status(missing, off, "vdb") == "missing"
    assert get(missing, "kvm_domain_disk_image_present", domain=off, target="vdb") == 0
    assert hashlib.sha256(damaged.read_bytes()).hexdigest() == before  # checks never write
    assert running.isActive()  # -U: checking a running domain's disk does not disturb it


def test_libvirt_snapshots_and_storage_pool(domains) -> None:  # type: ignore[no-untyped-def]
    dom = domains.create("snap", persistent=True, start=False)
    definition = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    for name, created in (("nightly-1", 1_700_000_000), ("nightly-2", 1_800_000_000)):
        # REDEFINE records a snapshot with the creation time we choose (as restoring
        # snapshot metadata from a backup does)
        dom.snapshotCreateXML(
            f"<domainsnapshot><name>{name}</name><creationTime>{created}</creationTime>"
            f"<state>shutoff</state><memory snapshot='no'/>{definition}</domainsnapshot>",
            libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE,
        )
    pool_dir = domains.tmp_path / "pool"
    pool_dir.mkdir()
    pool_name = f"kvmxt-pool-{uuid.uuid4().hex[:6]}"
    pool = domains.conn.storagePoolDefineXML(
        f"<pool type='dir'><name>{pool_name}</name><target><path>{pool_dir}</path></target></pool>"
    )
    try:
        pool.create()
        pool.createXML(
            "<volume><name>v1.qcow2</name><capacity unit='M'>4</capacity>"
            "<target><format type='qcow2'/></target></volume>",
            0,
        )
        with exporter(*STORAGE_ONLY) as exp:
            samples = exp.scrape()
            assert get(samples, "kvm_domain_snapshots", domain=dom.name()) == 2
            assert (
                get(samples, "kvm_domain_newest_snapshot_timestamp_seconds", domain=dom.name())
                == 1_800_000_000
            )
            assert get(samples, "kvm_storage_pool_state", pool=pool_name, state="running") == 1
            assert get(samples, "kvm_storage_pool_volumes", pool=pool_name) == 1
            assert (get(samples, "kvm_storage_pool_capacity_bytes", pool=pool_name) or 0) > 0
            pool.destroy()
            stopped = exp.scrape()
        assert get(stopped, "kvm_storage_pool_state", pool=pool_name, state="inactive") == 1
        assert get(stopped, "kvm_storage_pool_volumes", pool=pool_name) is None
    finally:
        for snapshot in dom.listAllSnapshots(0):
            snapshot.delete(libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY)
        if pool.isActive():
            pool.destroy()
        pool.undefine()


class Tgt:
    """A real tgt iSCSI target on 127.0.0.1 serving one LUN from a file."""

    def __init__(self, backing: Path) -> None:
        self.port = free_port()
        self.control = str(10000 + self.port % 10000)
        self.iqn = f"iqn.2026-11.test.kvm-exporter:{uuid.uuid4().hex[:8]}"
        self.process = subprocess.Popen(
            ["tgtd", "-f", "-C", self.control, "--iscsi", f"portal=127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(50):
            if self._adm("--op", "show", "--mode", "target", check=False).returncode == 0:
                break
            time.sleep(0.1)
        self._adm("--op", "new", "--mode", "target", "--tid", "1", "-T", self.iqn)
        self._adm("--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "1", "-b", str(backing))
        self._adm("--op", "bind", "--mode", "target", "--tid", "1", "-I", "ALL")

    def _adm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tgtadm", "-C", self.control, "--lld", "iscsi", *args],
            capture_output=True,
            text=True,
            check=check,
        )

    def close(self) -> None:
        # tgtd ignores SIGTERM while it has targets
        self.process.kill()
        self.process.wait(10)


@pytest.fixture
def tgt(domains) -> Iterator[Tgt]:  # type: ignore[no-untyped-def]
    if not shutil.which("tgtd"):
        pytest.skip("tgt is not installed")
    backing = domains.tmp_path / "lun.img"
    backing.write_bytes(bytes(8 << 20))
    target = Tgt(backing)
    yield target
    target.close()


def test_a_real_iscsi_lun_as_a_domain_disk(domains, tgt: Tgt) -> None:  # type: ignore[no-untyped-def]
    disk = (
        f"<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
        f"<source protocol='iscsi' name='{tgt.iqn}/1'><host name='127.0.0.1' port='{tgt.port}'/></source>"
        "<target dev='vdb' bus='virtio'/></disk>"
    )
    dom = domains.create("iscsi", extra_devices=disk)
    with exporter("--collector.libvirt", *STORAGE_ONLY[1:]) as exp:
        samples = exp.scrape()
    [info] = series(samples, "kvm_domain_block_info", domain=dom.name(), target="vdb")
    assert (info["protocol"], info["source_type"]) == ("iscsi", "network")
    assert info["source"] == f"{tgt.iqn}/1"
    assert get(samples, "kvm_domain_block_capacity_bytes", domain=dom.name(), target="vdb") == 8 << 20
    assert get(samples, "kvm_domain_block_read_requests_total", domain=dom.name(), target="vdb") is not None
    # a network disk has no local image to look at
    assert get(samples, "kvm_domain_disk_image_present", domain=dom.name(), target="vdb") is None
