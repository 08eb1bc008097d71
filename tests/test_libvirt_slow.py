"""The fresh/slow split of the libvirt source (fault domain_failure): vCPU thread stats read
from a real QEMU's /proc capture, and the background store's cadence, events and ages."""

from __future__ import annotations

import shutil
from pathlib import Path

import libvirt
import pytest

from exporter.libvirt.slow import PUSH_SLACK, RETRY, SlowStats
from exporter.libvirt.vcpus import VcpuThreads, parse_schedstat, parse_wait_sum, vcpu_index

pytestmark = pytest.mark.quick

CAPTURE = Path(__file__).parent / "fixtures/procfs/qemu-vcpu-threads"
BALLOON = {"balloon.current": 65536, "balloon.maximum": 65536, "balloon.rss": 41824,
           "balloon.unused": 1000, "balloon.last-update": 0}
KVM = {"vcpu.current": 1, "vcpu.maximum": 1, "vcpu.0.time": 5, "vcpu.0.exits.sum": 7180}


def procfs_with_qemu(tmp_path: Path, pid: int = 4918) -> Path:
    shutil.copytree(CAPTURE, tmp_path / str(pid))
    return tmp_path


def test_vcpu_threads_of_a_real_qemu_match_libvirts_numbers(tmp_path: Path) -> None:
    stats = VcpuThreads(procfs_with_qemu(tmp_path)).read(4918)
    # the delays libvirt's vcpu group gave in the same second; the time is schedstat's ns
    # (libvirt's is clock ticks: 3160000000)
    assert stats == {"vcpu.current": 2, "vcpu.0.time": 3165223054, "vcpu.0.delay": 2484378,
                     "vcpu.1.time": 1891110, "vcpu.1.delay": 2162029}


def test_vcpu_threads_wait_sum_when_the_kernel_keeps_schedstats(tmp_path: Path) -> None:
    procfs = procfs_with_qemu(tmp_path)
    for tid, wait in ((4925, "12.345678"), (4926, "0.000001")):  # the kernel's `%Ld.%06ld` ms
        sched = procfs / f"4918/task/{tid}/sched"
        sched.write_text(sched.read_text() + f"wait_sum{' ' * 37}:{wait:>21}\n")
    stats = VcpuThreads(procfs).read(4918)
    assert (stats["vcpu.0.wait"], stats["vcpu.1.wait"]) == (12_345_678, 1)


def test_vcpu_threads_of_a_gone_process_and_thread(tmp_path: Path) -> None:
    procfs = procfs_with_qemu(tmp_path)
    threads = VcpuThreads(procfs)
    assert threads.read(4918)["vcpu.current"] == 2
    shutil.rmtree(procfs / "4918/task/4926")  # vCPU 1 unplugged
    assert threads.read(4918)["vcpu.current"] == 1 and "vcpu.1.time" not in threads.read(4918)
    assert threads.read(99999) == {}


@pytest.mark.parametrize("text", ["", "1", "a b c", "-1 2 3"])
def test_schedstat_rejects_what_is_not_one(text: str) -> None:
    with pytest.raises(ValueError, match="schedstat"):
        parse_schedstat(text)


def test_thread_names_and_wait_sum_forms() -> None:
    assert [vcpu_index(n) for n in ("CPU 0/KVM", "CPU 12/TCG\n", "IO mon_iothread", "CPU x/KVM")] == [
        0, 12, None, None]
    assert parse_wait_sum("se.statistics.wait_sum : 1.5\n") == 1_500_000
    assert parse_wait_sum((CAPTURE / "task/4925/sched").read_text()) is None


def test_a_new_domain_is_missing_until_its_slow_groups_are_read() -> None:
    slow = SlowStats(frozenset({"balloon", "vcpu", "block"}), interval=60)
    assert slow.groups == {"balloon", "vcpu"}
    assert slow.missing("u")
    slow.store("u", {"state.state": 1, **BALLOON}, now=100)
    assert slow.missing("u")  # vcpu not read yet
    slow.store("u", {**KVM, "block.count": 1}, now=100)
    assert not slow.missing("u")


def test_slow_stats_come_due_at_their_interval_and_are_served_with_age() -> None:
    slow = SlowStats(frozenset({"balloon", "vcpu"}), interval=60)
    slow.store("u", {**BALLOON, **KVM}, now=100)
    assert slow.due(["u"], now=159) == {}
    assert slow.due(["u"], now=160) == {"balloon": ["u"], "vcpu": ["u"]}
    merged, ages = slow.overlay("u", {"vcpu.0.time": 9, "state.state": 1}, now=130)
    assert merged["vcpu.0.time"] == 9  # the fresh /proc value wins
    assert merged["balloon.unused"] == 1000 and merged["vcpu.0.exits.sum"] == 7180
    assert ages == {"balloon": 30, "vcpu": 30}


def test_guest_memory_is_read_just_after_the_guests_next_push(monkeypatch: pytest.MonkeyPatch) -> None:
    slow = SlowStats(frozenset({"balloon"}), interval=60)
    slow.set_period("u", 10)
    monkeypatch.setattr("exporter.libvirt.slow.time.time", lambda: 1_000_004.0)
    slow.store("u", {**BALLOON, "balloon.last-update": 1_000_000}, now=50)
    # pushed 4 s ago with a 10 s period: the next push is in 6 s
    assert slow.next_due() == pytest.approx(50 + 6 + PUSH_SLACK)


def test_an_answer_without_qemu_keeps_the_last_one_and_retries() -> None:
    """NOWAIT while a job holds the domain: libvirt answers the balloon size only."""
    slow = SlowStats(frozenset({"balloon"}), interval=60)
    slow.store("u", BALLOON, now=100)
    slow.store("u", {"balloon.current": 1, "balloon.maximum": 2}, now=170)
    merged, ages = slow.overlay("u", {}, now=170)
    assert merged["balloon.unused"] == 1000 and ages["balloon"] == 70
    assert slow.next_due() == 170 + RETRY


def test_events_make_groups_due_or_forget_a_run() -> None:
    slow = SlowStats(frozenset({"balloon", "vcpu"}), interval=60)
    woken = []
    slow.on_urgent = lambda: woken.append(1)
    slow.store("u", {**BALLOON, **KVM}, now=100)
    slow.event("u", libvirt.VIR_DOMAIN_EVENT_ID_BALLOON_CHANGE)
    assert slow.due(["u"], now=101) == {"balloon": ["u"]} and woken == [1]
    slow.event("u", libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE)  # restarted: the last run's stats go
    assert slow.missing("u") and slow.overlay("u", {}, now=101) == ({}, {})


def test_gone_domains_are_forgotten() -> None:
    slow = SlowStats(frozenset({"balloon"}), interval=60)
    slow.store("a", BALLOON, now=1)
    slow.store("b", BALLOON, now=1)
    slow.retain({"b"})
    assert slow.missing("a") and not slow.missing("b")
