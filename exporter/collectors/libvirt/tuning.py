"""Pure: the tuning a domain's live XML carries (fault vm_health, noisy neighbours): where its
vCPUs, emulator and I/O threads may run (`<vcpu cpuset>`, `<cputune>`, set with `virsh
vcpupin`/`emulatorpin`/`iothreadpin`), each disk's I/O throttle (`<iotune>`, `virsh
blkdeviotune`) and the domain's block I/O weight (`<blkiotune>`, `virsh blkiotune`). libvirt
sends a tunable event when any of them changes, which refreshes the cached XML.
"""

from __future__ import annotations

import contextlib

from exporter.libvirt.snapshot import DomainRecord
from exporter.metrics import Family, gauge

# `<iotune>` element -> (family key, direction)
THROTTLES = {
    "total_bytes_sec": ("bytes", "total"), "read_bytes_sec": ("bytes", "read"),
    "write_bytes_sec": ("bytes", "write"), "total_iops_sec": ("iops", "total"),
    "read_iops_sec": ("iops", "read"), "write_iops_sec": ("iops", "write"),
    "total_bytes_sec_max": ("burst_bytes", "total"), "read_bytes_sec_max": ("burst_bytes", "read"),
    "write_bytes_sec_max": ("burst_bytes", "write"), "total_iops_sec_max": ("burst_iops", "total"),
    "read_iops_sec_max": ("burst_iops", "read"), "write_iops_sec_max": ("burst_iops", "write"),
}


def cpuset_size(cpuset: str) -> int:
    """Host CPUs in a libvirt cpuset such as `0-3,8,^2` (3 + 1 - 1 = 4); ValueError if garbled."""
    chosen: set[int] = set()
    excluded: set[int] = set()
    for part in (p.strip() for p in cpuset.split(",")):
        into = excluded if part.startswith("^") else chosen
        low, dash, high = part.lstrip("^").partition("-")
        if not (low.isascii() and low.isdigit()) or (dash and not (high.isascii() and high.isdigit())):
            raise ValueError(f"not a cpuset: {cpuset!r}")
        into.update(range(int(low), int(high or low) + 1))
    return len(chosen - excluded)


def tuning_families(domains: list[DomainRecord]) -> list[Family]:
    dv = ["domain", "vcpu"]
    vcpu_pin = gauge("domain_vcpu_pinning_info", "The host CPUs a vCPU may run on (cpuset as libvirt "
                     "writes it), for vCPUs pinned by `<vcpupin>` or `<vcpu cpuset>`; absent: any CPU.",
                     [*dv, "cpuset"])
    vcpu_cpus = gauge("domain_vcpu_pinned_cpus", "How many host CPUs a pinned vCPU may run on.", dv)
    emulator = gauge("domain_emulator_pinning_info", "The host CPUs the domain's emulator threads "
                     "may run on (`<emulatorpin>`).", ["domain", "cpuset"])
    iothread = gauge("domain_iothread_pinning_info", "The host CPUs an I/O thread of the domain may "
                     "run on (`<iothreadpin>`).", ["domain", "iothread", "cpuset"])
    dtd = ["domain", "target", "direction"]
    throttle = {
        "bytes": gauge("domain_block_throttle_bytes_per_second", "I/O throttle of the disk "
                       "(`virsh blkdeviotune`): bytes per second, total or read or write.", dtd),
        "iops": gauge("domain_block_throttle_iops", "I/O throttle of the disk: requests per "
                      "second, total or read or write.", dtd),
        "burst_bytes": gauge("domain_block_throttle_burst_bytes_per_second", "Burst limit of the "
                             "disk's throttle, in bytes per second.", dtd),
        "burst_iops": gauge("domain_block_throttle_burst_iops", "Burst limit of the disk's "
                            "throttle, in requests per second.", dtd),
    }
    weight = gauge("domain_blkio_weight", "The domain's block I/O weight (`<blkiotune>`, 100-1000): "
                   "its share of host disk time against other domains.", ["domain"])
    for record in domains:
        xml, name = record.xml, record.name
        if xml is None:
            continue
        if xml.pinning is not None:
            for vcpu, cpuset in xml.pinning.vcpus:
                vcpu_pin.add((name, str(vcpu), cpuset), 1)
                with contextlib.suppress(ValueError):  # the info series shows what libvirt wrote
                    vcpu_cpus.add((name, str(vcpu)), cpuset_size(cpuset))
            if xml.pinning.emulator:
                emulator.add((name, xml.pinning.emulator), 1)
            for thread, cpuset in xml.pinning.iothreads:
                iothread.add((name, str(thread), cpuset), 1)
        for disk in xml.disks:
            for element, value in disk.iotune:
                if element in THROTTLES:
                    kind, direction = THROTTLES[element]
                    throttle[kind].add((name, disk.target, direction), value)
        if xml.blkio_weight is not None:
            weight.add((name,), xml.blkio_weight)
    return [vcpu_pin, vcpu_cpus, emulator, iothread, *throttle.values(), weight]
