"""Tuning of real domains: pinning and current placement, disk throttles and block I/O weight
set live the way an operator sets them (`virsh vcpupin`, `emulatorpin`, `blkdeviotune`,
`blkiotune`, through the same API calls), refreshed by libvirt's tunable event."""

from __future__ import annotations

import os

import libvirt
import pytest
from conftest import Domains
from support.scrape import exporter, get, only, series, wait_until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (libvirtd)")
LIVE = libvirt.VIR_DOMAIN_AFFECT_LIVE
LAST_CPU = (os.cpu_count() or 1) - 1


def cpumap(*cpus: int) -> tuple[bool, ...]:
    return tuple(cpu in cpus for cpu in range(LAST_CPU + 1))


def test_pinning_throttles_and_weight_of_a_real_domain(domains: Domains) -> None:
    dom = domains.create("tune", vcpus=2)
    name = dom.name()
    with exporter(*only("libvirt")) as running:
        before = running.scrape()
        assert not series(before, "kvm_domain_vcpu_pinning_info", domain=name)  # may run anywhere
        assert not series(before, "kvm_domain_block_throttle_iops", domain=name)
        dom.pinVcpu(1, cpumap(LAST_CPU))
        dom.pinEmulator(cpumap(0), LIVE)
        dom.setBlockIoTune("vda", {"total_iops_sec": 200, "read_bytes_sec": 10 << 20,
                                   "total_iops_sec_max": 400}, LIVE)
        dom.setBlkioParameters({"weight": 300}, LIVE)
        samples = wait_until(running.scrape, lambda s: get(s, "kvm_domain_blkio_weight", domain=name) == 300)
        pinned = series(samples, "kvm_domain_vcpu_pinning_info", domain=name)
        assert [(p["vcpu"], p["cpuset"]) for p in pinned] == [("1", str(LAST_CPU))]
        assert get(samples, "kvm_domain_vcpu_pinned_cpus", domain=name, vcpu="1") == 1
        assert series(samples, "kvm_domain_emulator_pinning_info", domain=name)[0]["cpuset"] == "0"
        assert get(samples, "kvm_domain_block_throttle_iops", domain=name, target="vda",
                   direction="total") == 200
        assert get(samples, "kvm_domain_block_throttle_bytes_per_second", domain=name, target="vda",
                   direction="read") == 10 << 20
        assert get(samples, "kvm_domain_block_throttle_burst_iops", domain=name, target="vda",
                   direction="total") == 400
        # the pinned vCPU's thread runs where it is pinned (after the kernel moved it)
        placed = wait_until(running.scrape,
                            lambda s: get(s, "kvm_domain_vcpu_cpu", domain=name, vcpu="1") == LAST_CPU)
        assert get(placed, "kvm_domain_vcpu_cpu", domain=name, vcpu="1") == LAST_CPU
        dom.setBlockIoTune("vda", {"total_iops_sec": 0, "read_bytes_sec": 0, "total_iops_sec_max": 0}, LIVE)
        cleared = wait_until(running.scrape,
                             lambda s: not series(s, "kvm_domain_block_throttle_iops", domain=name))
        assert not series(cleared, "kvm_domain_block_throttle_iops", domain=name)
        assert get(cleared, "kvm_libvirt_domain_events_total", event="tunable") >= 2



def test_optional_groups_of_a_real_domain(domains: Domains) -> None:
    """iothread and dirtyrate, asked for: a domain with an I/O thread, and a dirty-rate
    measurement started the way `virsh domdirtyrate-calc` starts it."""
    dom = domains.create("groups")
    with_thread = domains.create("iothr", iothreads=1)
    dom.startDirtyRateCalc(1, 0)
    groups = "--libvirt.stats-groups=interface,block,iothread,dirtyrate"
    with exporter(*only("libvirt"), groups) as running:
        samples = wait_until(running.scrape, lambda s: get(
            s, "kvm_domain_memory_dirty_rate_status", domain=dom.name()) == 2)
    assert get(samples, "kvm_domain_memory_dirty_rate_status", domain=dom.name()) == 2
    assert get(samples, "kvm_domain_memory_dirty_rate_period_seconds", domain=dom.name()) == 1
    # The guest may still be in its firmware, so the rate is compared with libvirt's own answer
    # for the same finished measurement rather than with zero.
    measured = dom.connect().domainListGetStats([dom], libvirt.VIR_DOMAIN_STATS_DIRTYRATE)[0][1]
    assert get(samples, "kvm_domain_memory_dirty_rate_bytes_per_second", domain=dom.name()) == (
        measured["dirtyrate.megabytes_per_second"] * (1 << 20))
    assert get(samples, "kvm_domain_iothreads", domain=with_thread.name()) == 1
    assert not series(samples, "kvm_domain_memory_dirty_rate_status", domain=with_thread.name()) or get(
        samples, "kvm_domain_memory_dirty_rate_status", domain=with_thread.name()) == 0
