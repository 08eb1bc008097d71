"""Can this host run KVM guests? Checks of the device nodes, kernel modules and CPU flags
that QEMU/KVM depends on (fault kmod_failure).

Each check has a stable name and a reason, so an alert can say exactly what is missing.
Device nodes are checked under the root filesystem (`--path.rootfs`), modules under sysfs,
CPU flags in procfs: the same trees a container sees when the host's are mounted.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from exporter.sysfs import read_text

VENDOR_MODULES = ("kvm_intel", "kvm_amd", "kvm_pvm")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    reason: str


@dataclass(frozen=True)
class Readiness:
    checks: tuple[Check, ...]
    nested: dict[str, bool]


def cpu_flags(cpuinfo: str) -> set[str]:
    """The union of `flags` of every processor in /proc/cpuinfo (pure)."""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "flags":
            flags.update(value.split())
    return flags


def parse_bool_parameter(text: str) -> bool | None:
    value = text.strip().upper()
    if value in ("Y", "1"):
        return True
    if value in ("N", "0"):
        return False
    return None


def check_char_device(path: Path, name: str, *, write: bool) -> Check:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return Check(name, False, "missing")
    except OSError as exc:
        return Check(name, False, errno.errorcode.get(exc.errno or 0, "stat_failed").lower())
    if not stat.S_ISCHR(mode):
        return Check(name, False, "not_a_char_device")
    try:
        fd = os.open(path, os.O_RDWR if write else os.O_RDONLY)
    except PermissionError:
        return Check(name, False, "permission_denied")
    except OSError as exc:
        return Check(name, False, errno.errorcode.get(exc.errno or 0, "open_failed").lower())
    os.close(fd)
    return Check(name, True, "ok")


def read_readiness(rootfs: Path, sysfs: Path, procfs: Path) -> Readiness:
    modules = sysfs / "module"

    def loaded(name: str) -> bool:
        return (modules / name).is_dir()

    try:
        flags = cpu_flags(read_text(procfs / "cpuinfo"))
    except OSError:
        flags = set()
    vendor = [m for m in VENDOR_MODULES if loaded(m)]
    if flags & {"vmx", "svm"}:
        cpu = Check("cpu_virtualization", True, "vmx" if "vmx" in flags else "svm")
    elif "kvm_pvm" in vendor:
        cpu = Check("cpu_virtualization", True, "pvm")  # PVM runs guests without VT-x/AMD-V
    else:
        cpu = Check("cpu_virtualization", False, "no_vmx_svm_flags")
    checks = (
        check_char_device(rootfs / "dev/kvm", "dev_kvm", write=True),
        Check("module_kvm", loaded("kvm"), "ok" if loaded("kvm") else "not_loaded"),
        Check("module_kvm_vendor", bool(vendor), vendor[0] if vendor else "not_loaded"),
        cpu,
        _device_or_module(rootfs / "dev/net/tun", loaded("tun"), "tun"),
        _device_or_module(rootfs / "dev/vhost-net", loaded("vhost_net"), "vhost_net"),
        Check("module_bridge", loaded("bridge"), "ok" if loaded("bridge") else "not_loaded"),
    )
    nested = {}
    for module in vendor:
        try:
            value = parse_bool_parameter(read_text(modules / module / "parameters/nested"))
        except OSError:
            continue
        if value is not None:
            nested[module] = value
    return Readiness(checks, nested)


def _device_or_module(device: Path, module_loaded: bool, name: str) -> Check:
    """A built-in module has no /sys/module entry without parameters; its device node tells."""
    if os.path.exists(device):
        return Check(name, True, "ok")
    return Check(name, module_loaded, "ok" if module_loaded else "not_available")
