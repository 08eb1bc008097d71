"""KVM readiness (kmod_failure) on this machine's real /dev/kvm and /sys/module, and on trees
the tests build where things are missing.

Faults: kmod_failure.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path
from typing import Any

import pytest
from support.scrape import exporter, get, parse_samples

from exporter.collectors.kvm import KvmCollector, readiness_families
from exporter.collectors.kvm.readiness import check_char_device, cpu_flags, read_readiness
from exporter.http import create_app
from exporter.libvirt.capabilities import kvm_usable
from exporter.metrics import render
from exporter.settings import Settings


def checks(rootfs: Path, sysfs: Path, procfs: Path) -> dict[str, tuple[bool, str]]:
    return {c.name: (c.ok, c.reason) for c in read_readiness(rootfs, sysfs, procfs).checks}


async def test_this_machine_is_ready(aiohttp_client: Any) -> None:
    """/dev/kvm here is PVM-based: no vmx/svm flag, the vendor module is kvm_pvm."""
    client = await aiohttp_client(create_app(Settings(), [KvmCollector("/", "/sys", "/proc")]))
    samples = parse_samples(await (await client.get("/metrics")).text())
    assert get(samples, "kvm_host_kvm_check", check="dev_kvm", reason="ok") == 1
    assert get(samples, "kvm_host_kvm_check", check="module_kvm", reason="ok") == 1
    vendor = next(labels for name, labels in samples if name == "kvm_host_kvm_check"
                  and ("check", "module_kvm_vendor") in labels)
    assert dict(vendor)["reason"] in ("kvm_intel", "kvm_amd", "kvm_pvm")
    assert get(samples, "kvm_host_kvm_ready") == 1


def test_dev_kvm_without_permission() -> None:
    """A forked child drops to nobody, who is not in group kvm: /dev/kvm exists but is closed."""
    nobody = pwd.getpwnam("nobody")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: no exec, so no interpreter path to reach as nobody
        try:
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            reason = check_char_device(Path("/dev/kvm"), "dev_kvm", write=True).reason
            os.write(write_end, reason.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end) as pipe:
        assert pipe.read() == "permission_denied"


@pytest.fixture
def host(tmp_path: Path) -> tuple[Path, Path, Path]:
    rootfs, sysfs, procfs = tmp_path / "root", tmp_path / "sys", tmp_path / "proc"
    for path in (rootfs / "dev/net", sysfs / "module", procfs):
        path.mkdir(parents=True)
    return rootfs, sysfs, procfs


def test_nothing_there(host: tuple[Path, Path, Path]) -> None:
    found = checks(*host)
    assert found == {
        "dev_kvm": (False, "missing"), "module_kvm": (False, "not_loaded"),
        "module_kvm_vendor": (False, "not_loaded"), "cpu_virtualization": (False, "no_vmx_svm_flags"),
        "tun": (False, "not_available"), "vhost_net": (False, "not_available"),
        "module_bridge": (False, "not_loaded")}
    text = render(readiness_families(read_readiness(*host)))
    assert "kvm_host_kvm_ready 0\n" in text


def test_an_intel_host_with_nesting(host: tuple[Path, Path, Path]) -> None:
    rootfs, sysfs, procfs = host
    (rootfs / "dev/kvm").write_text("")  # a regular file is not the device
    (procfs / "cpuinfo").write_text("processor\t: 0\nflags\t\t: fpu vme vmx ept\n\nprocessor\t: 1\n"
                                    "flags\t\t: fpu vme vmx ept\n")
    for module in ("kvm", "kvm_intel/parameters", "vhost_net", "bridge"):
        (sysfs / "module" / module).mkdir(parents=True)
    (sysfs / "module/kvm_intel/parameters/nested").write_text("Y\n")
    found = checks(rootfs, sysfs, procfs)
    assert found["dev_kvm"] == (False, "not_a_char_device")
    assert found["cpu_virtualization"] == (True, "vmx")
    assert found["module_kvm_vendor"] == (True, "kvm_intel")
    assert found["vhost_net"] == (True, "ok") and found["tun"] == (False, "not_available")
    samples = parse_samples(render(readiness_families(read_readiness(rootfs, sysfs, procfs))))
    assert get(samples, "kvm_host_kvm_nested_enabled", module="kvm_intel") == 1


def test_cpu_flags_union() -> None:
    assert cpu_flags("flags : a b\nmodel : x\nflags: c\n") == {"a", "b", "c"}


CAPABILITIES = Path(__file__).parent / "fixtures" / "libvirt" / "capabilities-qemu-7.2.xml"


def test_libvirt_capabilities_offer_kvm() -> None:
    text = CAPABILITIES.read_text()
    assert kvm_usable(text)
    assert not kvm_usable(text.replace("<domain type='kvm'/>", ""))
    # KVM offered only for a foreign architecture does not make this host KVM-capable
    assert not kvm_usable(text.replace("<arch>x86_64</arch>", "<arch>aarch64</arch>", 1))


@pytest.mark.usefixtures("libvirtd_available")
def test_live_libvirt_says_kvm_is_usable_here() -> None:
    with exporter("--collector.libvirt", "--no-collector.smart", "--no-collector.config",
                  "--no-collector.qemu", "--no-collector.kernel") as running:
        assert get(running.scrape(), "kvm_libvirt_kvm_usable") == 1
