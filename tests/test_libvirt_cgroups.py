"""Domain CPU times from the domain's cgroup v2 cpu.stat (fault overcommit), on files captured
from a real QEMU domain next to libvirt's own answer for them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from exporter.libvirt.cgroups import DomainCpu, domain_cgroup, parse_cpu_stat

pytestmark = pytest.mark.quick

CAPTURE = Path(__file__).parent / "fixtures/procfs/qemu-cgroup"
LIBVIRT_SAID = {"cpu.time": 3559225000, "cpu.user": 84101000, "cpu.system": 3475124000}


def host(tmp_path: Path, pid: int = 4242) -> tuple[Path, Path]:
    procfs, sysfs = tmp_path / "proc", tmp_path / "sys"
    (procfs / str(pid)).mkdir(parents=True)
    shutil.copy(CAPTURE / "cgroup", procfs / str(pid) / "cgroup")
    unified = sysfs / "fs/cgroup/unified"
    scope = unified / "machine/qemu-455-kvmxb-0004.libvirt-qemu"
    scope.mkdir(parents=True)
    (unified / "cgroup.controllers").write_text("")
    shutil.copy(CAPTURE / "cpu.stat", scope / "cpu.stat")
    return procfs, sysfs


def test_the_captured_cgroup_gives_what_libvirt_said(tmp_path: Path) -> None:
    assert DomainCpu(*host(tmp_path)).read(4242) == LIBVIRT_SAID


def test_domain_cgroup_paths() -> None:
    assert domain_cgroup((CAPTURE / "cgroup").read_text()) == "/machine/qemu-455-kvmxb-0004.libvirt-qemu"
    systemd = "0::/machine.slice/machine-qemu\\x2d1\\x2dweb.scope/libvirt/emulator\n"
    assert domain_cgroup(systemd) == "/machine.slice/machine-qemu\\x2d1\\x2dweb.scope"
    assert domain_cgroup("0::/\n") is None  # the root: the host's, not a domain's
    assert domain_cgroup("1:cpu,cpuacct:/machine/qemu-1-a.libvirt-qemu/emulator\n") is None  # v1 only


def test_without_cgroup_v2_the_caller_asks_libvirt(tmp_path: Path) -> None:
    procfs, sysfs = host(tmp_path)
    (sysfs / "fs/cgroup/unified/cgroup.controllers").unlink()
    assert DomainCpu(procfs, sysfs).read(4242) == {}
    assert DomainCpu(*host(tmp_path / "b")).read(999) == {}  # no such process


def test_a_vanished_cgroup_is_looked_up_again(tmp_path: Path) -> None:
    procfs, sysfs = host(tmp_path)
    cpu = DomainCpu(procfs, sysfs)
    stat = sysfs / "fs/cgroup/unified/machine/qemu-455-kvmxb-0004.libvirt-qemu/cpu.stat"
    stat.unlink()
    assert cpu.read(4242) == {}
    shutil.copy(CAPTURE / "cpu.stat", stat)
    assert cpu.read(4242) == LIBVIRT_SAID


@pytest.mark.parametrize("text", ["", "user_usec 5\n", "usage_usec x\n"])
def test_cpu_stat_without_usage_is_an_error(text: str) -> None:
    with pytest.raises(ValueError, match="usage_usec"):
        parse_cpu_stat(text)
