"""The KVM readiness collector (fault kmod_failure): /dev/kvm, KVM and vendor modules, CPU
virtualization flags, tun, vhost-net, bridge, nested virtualization."""

from __future__ import annotations

from pathlib import Path

from exporter.collector import ThreadedCollector, register
from exporter.collectors.kvm.readiness import Readiness, read_readiness
from exporter.metrics import Family, gauge
from exporter.settings import Settings
from exporter.shared import Shared


def readiness_families(readiness: Readiness) -> list[Family]:
    checks = gauge("host_kvm_check", "Whether a KVM prerequisite holds (1) or not (0); reason says "
                   "what was found (ok, missing, permission_denied, not_loaded, ...).", ["check", "reason"])
    for check in readiness.checks:
        checks.add((check.name, check.reason), 1 if check.ok else 0)
    ready = gauge("host_kvm_ready", "Whether every KVM prerequisite holds (1) or not (0).")
    ready.add((), 1 if all(c.ok for c in readiness.checks if c.name != "vhost_net") else 0)
    nested = gauge("host_kvm_nested_enabled", "Whether the KVM vendor module allows nested "
                   "virtualization (1) or not (0).", ["module"])
    for module, enabled in sorted(readiness.nested.items()):
        nested.add((module,), 1 if enabled else 0)
    return [checks, ready, nested]


class KvmCollector(ThreadedCollector[Readiness]):
    name = "kvm"

    def __init__(self, rootfs: str, sysfs: str, procfs: str) -> None:
        paths = (Path(rootfs), Path(sysfs), Path(procfs))
        super().__init__(lambda: read_readiness(*paths), readiness_families)


@register("kvm", default_enabled=True,
          description="KVM readiness: /dev/kvm, KVM/vendor/tun/vhost/bridge modules, CPU flags, nesting")
def create(settings: Settings, _shared: Shared) -> KvmCollector:
    return KvmCollector(settings.path_rootfs, settings.path_sysfs, settings.path_procfs)
