"""The kernel collector: classifying real kernel-log captures, reading /dev/kmsg records,
and real OOM kills (a process in a small memory cgroup, a QEMU domain over its hard limit)
counted by the real exporter process reading the real /dev/kmsg and /proc/vmstat.

Faults: process_oom.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest
from support import cgroups
from support.domstats_fixtures import FIXTURES
from support.guests import TOUCH_64M_ON_SIGNAL, TOUCH_SIGNAL_OFFSET
from support.scrape import exporter, get, series, wait_until

from exporter.collectors.kernel import KernelEvents
from exporter.collectors.kernel.kmsg import KmsgReader, classify, domain_from_memcg, parse_record
from exporter.qemu_pids import PidIndex

CAPTURES = FIXTURES / "kernel-log"
# What users prepend when they paste logs: journal "Mon DD HH:MM:SS host kernel:",
# dmesg "[   38.52]" or dmesg -T "[Mon Jan 27 19:27:15 2020]".
PASTE_PREFIX = re.compile(r"^(?:\w{3} +\d+ [\d:]+ (?:\S+ )?kernel: *)?(?:\[[^\]]*\] *)?")
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (/dev/kmsg, cgroups)")


def messages(capture: str) -> list[str]:
    text = (CAPTURES / capture).read_text()
    if capture.endswith(".WRAPPED.txt"):  # published with line wraps: rejoin continuation lines
        text = re.sub(r"\n(?![A-Z][a-z]{2} +\d+ )", " ", text)
    return [PASTE_PREFIX.sub("", line) for line in text.splitlines()]


def counted(lines: list[str], pids: PidIndex | None = None) -> KernelEvents:
    events = KernelEvents()
    for line in lines:
        event = classify(line)
        if event is not None:
            events.count(event, pids or PidIndex())
    return events


def test_kvm_init_failures_from_a_real_dmesg() -> None:
    events = counted(messages("kvm-disabled-by-bios-dmesg.platform9-express-issue-206.txt"))
    assert dict(events.kvm_init_failures.counts) == {("disabled_by_bios",): 5, ("no_hardware_support",): 1}


@pytest.mark.parametrize("capture", [
    "mce-edac-sbridge-memory-read-CE-dmesg-T.edac-utils-issue-10.txt",
    "mce-edac-sbridge-memory-scrubbing-CE.radiasoft-devops-issue-134.txt",
])
def test_machine_check_and_edac_errors_from_real_logs(capture: str) -> None:
    events = counted(messages(capture))
    assert dict(events.hardware_errors.counts) == {
        ("mce",): 1, ("edac_corrected",): 1, ("edac_uncorrected",): 0}


def test_iscsi_connection_errors_from_real_logs() -> None:
    ping = counted(messages("iscsi-conn-error-1011-ping-timeout.open-iscsi-issue-97.txt"))
    assert dict(ping.iscsi_connection_errors.counts) == {("1011",): 1}
    # iscsid's own journal lines repeat the kernel's report; only the kernel's two count.
    closed = counted(messages("iscsi-conn-error-1020-journal.open-iscsi-issue-387.txt"))
    assert dict(closed.iscsi_connection_errors.counts) == {("1020",): 2}


def test_vendor_memcg_oom_of_a_qemu_process_names_the_domain_from_its_scope() -> None:
    events = counted(messages("oom-memcg-kvm-process-killed.h3c-knowledge-196317.WRAPPED.txt"))
    assert dict(events.oom_kills.counts) == {("kvm", "RHEL7-9-4"): 1}


def test_the_invoking_vcpu_thread_is_not_counted_as_a_kill() -> None:
    events = counted(messages("oom-memcg-vcpu-thread-invoked.harvester-issue-2419.PARTIAL.txt"))
    assert not events.oom_kills.counts


def test_own_kmsg_capture_of_a_qemu_oom_kill() -> None:
    records = [parse_record(raw.encode()) for raw in
               (CAPTURES / "own-kmsg-qemu-memcg-oom.kmsg").read_text().splitlines()]
    assert all(r is not None and r.facility == 0 for r in records)
    lines = [r.message for r in records if r is not None]
    assert dict(counted(lines).oom_kills.counts) == {("qemu-system-x86", "kvmxt-oom1"): 1}
    known = PidIndex()
    known.update({"web-1": 25938})  # the pid index wins over the (possibly shortened) cgroup name
    assert dict(counted(lines, known).oom_kills.counts) == {("qemu-system-x86", "web-1"): 1}


@pytest.mark.parametrize(("message", "kind", "labels"), [
    ("blk_update_request: I/O error, dev sdb, sector 2048 op 0x0:(READ) flags 0x0",
     "block_io_error", ("sdb",)),
    ("critical medium error, dev nvme0n1, sector 12 op 0x1:(WRITE) flags 0x800",
     "block_io_error", ("nvme0n1",)),
    ("Buffer I/O error on dev sdb1, logical block 0, async page read", None, None),
    (" session3: session recovery timed out after 120 secs", "iscsi_session_recovery_timeout", ()),
    ("kvm_intel: support for 'kvm_intel' disabled by bios", "kvm_init_failure", ("disabled_by_bios",)),
    ("EDAC MC0: 2 UE memory read error on CPU_SrcID#0_Ha#0_Chan#1_DIMM#0", "hardware_error",
     ("edac_uncorrected",)),
    ("eth0: renamed from veth1234", None, None),
])
def test_classify(message: str, kind: str | None, labels: tuple[str, ...] | None) -> None:
    event = classify(message)
    assert (event.kind if event else None) == kind
    if event is not None:
        assert event.labels == labels


@pytest.mark.parametrize(("memcg", "domain"), [
    ("/machine/qemu-3-kvmxt-oom1.libvirt-qemu", "kvmxt-oom1"),
    ("/machine.slice/machine-qemu\\x2d33\\x2dRHEL7\\x2d9\\x2d4.scope", "RHEL7-9-4"),
    ("/machine.slice/machine-qemu\\x2d2\\x2dweb.scope/libvirt/emulator", "web"),
    ("/user.slice/user-1000.slice", ""),
])
def test_domain_from_memcg(memcg: str, domain: str) -> None:
    assert domain_from_memcg(memcg) == domain


def test_parse_record_rejects_what_is_not_a_kmsg_record() -> None:
    assert parse_record(b"no header here") is None
    assert parse_record(b"6,x,1,-;text") is None
    record = parse_record(b"12,77,5,-;from a program\n SUBSYSTEM=foo\n")
    assert record is not None
    assert (record.sequence, record.facility, record.message) == (77, 1, "from a program")


def test_reader_counts_records_lost_to_a_wrapped_ring_buffer() -> None:
    # /dev/kmsg hands out one record per read(); a SOCK_SEQPACKET pair does too, so the
    # reader's sequence tracking can be driven record by record.
    ours, kernel = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setblocking(False)
    reader = KmsgReader("seqpacket", fd=ours.fileno())
    for seq in (10, 11):
        kernel.send(f"6,{seq},1,-;first".encode())
    assert [r.sequence for r in reader.read_new().records] == [10, 11]
    assert reader.read_new().records == []  # nothing new: no blocking, no re-reading
    for seq in (15, 16):  # 12..14 were overwritten before we came back
        kernel.send(f"6,{seq},1,-;later".encode())
    result = reader.read_new()
    assert ([r.sequence for r in result.records], result.lost) == ([15, 16], 3)
    kernel.close()
    ours.close()


@pytest.fixture
def memory_cgroup() -> Iterator[Path]:
    """A cgroup-v1 memory cgroup limited to 32 MiB, removed afterwards."""
    if not (cgroups.MEMORY / "memory.limit_in_bytes").exists():
        pytest.skip("no cgroup-v1 memory controller")
    group = cgroups.create("oom", 32 << 20)
    yield group
    cgroups.remove(group)


@ROOT_ONLY
def test_real_oom_kill_in_a_memory_cgroup_is_counted(memory_cgroup: Path) -> None:
    hog = ("import sys; sys.stdin.readline(); b = bytearray(256 << 20)\n"
           "for i in range(0, len(b), 4096): b[i] = 1")
    with exporter("--collector.kernel", "--no-collector.libvirt", "--no-collector.config",
                  "--no-collector.smart", "--no-collector.qemu") as running:
        before = running.scrape()
        child = subprocess.Popen([sys.executable, "-c", hog], stdin=subprocess.PIPE)
        assert child.stdin is not None
        (memory_cgroup / "cgroup.procs").write_text(str(child.pid))
        comm = Path(f"/proc/{child.pid}/comm").read_text().strip()
        child.stdin.write(b"go\n")
        child.stdin.close()
        assert child.wait(60) == -9  # SIGKILL from the OOM killer
        killed = {"comm": comm, "domain": ""}
        after = wait_until(running.scrape, lambda s: get(s, "kvm_kernel_oom_kills_total", **killed))
    assert get(after, "kvm_kernel_oom_kills_total", comm=comm, domain="") == 1
    assert (get(after, "kvm_host_oom_kills_total") or 0) >= (get(before, "kvm_host_oom_kills_total") or 0) + 1
    assert get(after, "kvm_scrape_collector_success", collector="kernel") == 1


@ROOT_ONLY
def test_records_written_by_programs_are_not_kernel_events() -> None:
    with exporter("--collector.kernel", "--no-collector.libvirt", "--no-collector.config",
                  "--no-collector.smart", "--no-collector.qemu") as running:
        before = running.scrape()
        with open("/dev/kmsg", "w") as kmsg:
            kmsg.write("kvm-exporter test: kvm: disabled by bios\n")
        after = wait_until(running.scrape, lambda s: (get(s, "kvm_kernel_log_records_total") or 0)
                         > (get(before, "kvm_kernel_log_records_total") or 0))
    assert not series(after, "kvm_kernel_kvm_init_failures_total")


def test_unreadable_kernel_log_fails_the_collector_and_says_so_once(tmp_path: Path) -> None:
    missing = tmp_path / "no-kmsg"
    with exporter(f"--path.kmsg={missing}", "--no-collector.libvirt", "--no-collector.config",
                  "--no-collector.smart", "--no-collector.qemu") as running:
        scrapes = [running.scrape() for _ in range(3)]
        stderr = running.stderr_after_exit()
    for samples in scrapes:
        assert get(samples, "kvm_scrape_collector_success", collector="kernel") == 0
        assert get(samples, "kvm_kernel_oom_kills_total") is None
        assert get(samples, "kvm_host_oom_kills_total") is not None  # /proc/vmstat still read
    assert stderr.count("cannot read the kernel log") == 1, stderr
    assert stderr.count('msg="collector failed" collector=kernel') == 1, stderr


@ROOT_ONLY
def test_qemu_killed_by_the_oom_killer_is_attributed_to_its_domain(domains) -> None:  # type: ignore[no-untyped-def]
    dom = domains.create("oom", program=TOUCH_64M_ON_SIGNAL, memory_mib=96, persistent=True)
    name = dom.name()
    with exporter("--no-collector.smart", "--no-collector.config") as running:
        assert get(running.scrape(), "kvm_domain_qemu_threads", domain=name)  # pid learnt
        usage = int(Path(f"/sys/fs/cgroup/memory/machine/qemu-{dom.ID()}-{name}.libvirt-qemu/"
                         "memory.usage_in_bytes").read_text())
        dom.setMemoryParameters({"hard_limit": (usage >> 10) + 16 * 1024}, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        image = Path(dom_disk(dom))
        with image.open("r+b") as disk:  # tell the guest to touch 63 MiB
            disk.seek(TOUCH_SIGNAL_OFFSET)
            disk.write(b"\x42")
        after = wait_until(running.scrape, lambda s: series(s, "kvm_kernel_oom_kills_total", domain=name))
        assert series(after, "kvm_kernel_oom_kills_total", domain=name) == [
            {"comm": "qemu-system-x86", "domain": name}]
        crash = {"domain": name, "event": "stopped", "detail": "failed"}
        stopped = wait_until(running.scrape, lambda s: get(s, "kvm_domain_lifecycle_events_total", **crash))
    assert get(stopped, "kvm_domain_lifecycle_events_total", **crash) == 1
    assert dom.state() == [libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_CRASHED]


def dom_disk(dom: libvirt.virDomain) -> str:
    match = re.search(r"<source file='([^']+)'", dom.XMLDesc(0))
    assert match
    return match.group(1)
