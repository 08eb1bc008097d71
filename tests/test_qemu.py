"""The QEMU collector on real domains: their QEMU processes, and error lines written into
their real logs (with virtlogd's rename rotation and logrotate's copytruncate).

Faults: domain_failure, overcommit.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import psutil
import pytest
from support.domstats_fixtures import FIXTURES
from support.scrape import exporter, get, only, series

from exporter.collectors.qemu.logs import SWEEP_SECONDS, LogTailer, classify_line
from exporter.procfs import (
    PidStat,
    count_open_fds,
    fd_dir_size_counts,
    parse_boot_time,
    parse_pid_io,
    parse_pid_stat,
)
from exporter.qemu_pids import (
    RunningDomains,
    guest_memory_bytes,
    guest_name,
    parse_pidfile,
    pidfile_domain,
)
from exporter.settings import Settings
from exporter.shared import Shared

LOG_DIR = Path("/var/log/libvirt/qemu")
QEMU_ONLY = only("qemu")


@pytest.mark.parametrize(("line", "kind"), [
    ("2026-11-26T09:45:23.562157Z qemu-system-x86_64: terminating on signal 15 from pid 1234 "
     "(/usr/sbin/libvirtd)", "terminated_by_signal"),
    ("qemu-system-x86_64: -device vfio-pci,host=0000:3b:00.0: vfio 0000:3b:00.0: failed to setup "
     "container for group 42: Failed to set iommu for container: Operation not permitted", "device_error"),
    ("qemu-system-x86_64: -blockdev {...}: Could not open '/var/lib/libvirt/images/x.qcow2': "
     "Permission denied", "device_error"),
    ("qemu-system-x86_64: Duplicate ID 'net0' for device", "device_error"),
    ("block I/O error in device 'drive-virtio-disk0': Input/output error (5)", "io_error"),
    ("qemu-system-x86_64: load of migration failed: Invalid argument", "migration_failure"),
    ("2026-11-26T09:45:23.562157Z qemu-system-x86_64: warning: host doesn't support requested "
     "feature: CPUID.01H:ECX.pni [bit 0]", None),
    ("2026-11-26 09:45:23.531+0000: starting up libvirt version: 9.0.0", None),
])
def test_classify_qemu_log_lines(line: str, kind: str | None) -> None:
    assert classify_line(line) == kind


@pytest.mark.parametrize(("argv", "name", "memory"), [
    (["qemu-system-x86_64", "-name", "guest=web,debug-threads=on", "-m", "128"], "web", 128 << 20),
    (["qemu-kvm", "-name", "old-style", "-m", "size=4194304k,slots=16,maxmem=8G"], "old-style", 4 << 30),
    (["qemu-system-x86_64", "-name", "guest=a,,b,debug-threads=on", "-m", "2G"], "a,b", 2 << 30),
    (["qemu-system-x86_64", "-name", "guest=x,,,debug-threads=on", "-m", "1G"], "x,", 1 << 30),
    (["qemu-system-x86_64", "-name", "guest=,,,,a,,", "-m", "1G"], ",,a,", 1 << 30),
    (["qemu-system-x86_64", "-m", "512"], None, 512 << 20),
    (["qemu-system-x86_64", "-name", "guest=x", "-m", "lots"], "x", None),
])
def test_guest_name_and_memory_from_the_command_line(argv: list[str], name: str | None,
                                                     memory: int | None) -> None:
    assert (guest_name(argv), guest_memory_bytes(argv)) == (name, memory)


@pytest.mark.parametrize(("text", "pid"), [("1234\n", 1234), ("", None), ("0", None), ("12a", None),
                                           ("١٢", None)])
def test_parse_pidfile(text: str, pid: int | None) -> None:
    assert parse_pidfile(text) == pid


@pytest.mark.parametrize(("filename", "domain"), [
    ("web.pid", "web"), ("a&amp;b.pid", "a&b"), ("q&quot;uote&apos;s.pid", "q\"uote's"),
    ("a&ampb.pid", "a&ampb"), ("a,.pid", "a,"),
])
def test_domain_of_a_pid_file(filename: str, domain: str) -> None:
    assert pidfile_domain(filename) == domain


def test_qemu_process_of_a_real_domain(domains) -> None:  # type: ignore[no-untyped-def]
    dom = domains.create("proc", memory_mib=64)
    name = dom.name()
    pid = int(Path(f"/run/libvirt/qemu/{name}.pid").read_text())
    process = psutil.Process(pid)
    with exporter(*QEMU_ONLY) as running:
        read_before = process.io_counters().read_bytes
        samples = running.scrape()
        read_after = process.io_counters().read_bytes
    rss = get(samples, "kvm_domain_qemu_resident_memory_bytes", domain=name)
    assert rss is not None
    assert abs(rss - psutil.Process(pid).memory_info().rss) < 0.2 * rss
    assert get(samples, "kvm_domain_qemu_guest_memory_bytes", domain=name) == 64 << 20
    overhead = get(samples, "kvm_domain_qemu_memory_overhead_bytes", domain=name)
    assert overhead is not None and 0 < overhead < rss
    # QEMU's I/O worker threads (and their eventfds) come and go: psutil's counts, give or take
    assert abs((get(samples, "kvm_domain_qemu_threads", domain=name) or 0) - process.num_threads()) <= 4
    assert abs((get(samples, "kvm_domain_qemu_open_fds", domain=name) or 0) - process.num_fds()) <= 4
    assert (get(samples, "kvm_domain_qemu_cpu_seconds_total", domain=name, mode="system") or 0) > 0
    assert read_before <= (get(samples, "kvm_domain_qemu_read_bytes_total", domain=name) or -1) <= read_after
    # psutil reads the same btime + starttime, rounded to its own clock-tick arithmetic
    started = get(samples, "kvm_domain_qemu_start_time_seconds", domain=name) or 0
    assert abs(started - process.create_time()) < 0.05


ODD_NAMES = ("a&b", "a,", "q\"uote's", "x,,y")


def test_qemu_processes_of_domains_with_odd_names(domains) -> None:  # type: ignore[no-untyped-def]
    """libvirt XML-escapes pid file names and QEMU doubles commas in `-name guest=`: every
    domain is still found, with its QEMU series."""
    names = [f"kvmxt-{odd}-{n}" for n, odd in enumerate(ODD_NAMES)]
    for name in names:
        domains.create(name=name)
    with exporter(*QEMU_ONLY) as running:
        samples = running.scrape()
    found = {labels["domain"] for labels in series(samples, "kvm_domain_qemu_resident_memory_bytes")}
    assert [name for name in names if name not in found] == []


def append(path: Path, line: str) -> None:
    with path.open("a") as log:
        log.write(line + "\n")


def test_errors_in_a_real_domain_log_count_once_across_rotations(domains) -> None:  # type: ignore[no-untyped-def]
    dom = domains.create("log")
    name = dom.name()
    log, rotated = LOG_DIR / f"{name}.log", LOG_DIR / f"{name}.log.1"
    append(log, "qemu-system-x86_64: Duplicate ID 'net0' for device")  # before the exporter: old news
    try:
        with exporter(*QEMU_ONLY) as running:
            def errors() -> dict[str, float | None]:
                samples = running.scrape()
                return {s["kind"]: get(samples, "kvm_domain_qemu_log_errors_total", **s)
                        for s in series(samples, "kvm_domain_qemu_log_errors_total", domain=name)}

            assert errors() == {"device_error": 0, "io_error": 0, "migration_failure": 0,
                                "terminated_by_signal": 0}
            append(log, "block I/O error in device 'drive-virtio-disk0': Input/output error (5)")
            append(log, "qemu-system-x86_64: terminating on signal 15 from pid 1 (/usr/sbin/libvirtd)")
            assert errors() == {"device_error": 0, "io_error": 1, "migration_failure": 0,
                                "terminated_by_signal": 1}
            assert errors()["io_error"] == 1  # never re-read

            # virtlogd's rotation: a last line lands in the old file, which is renamed to .1
            append(log, "qemu-system-x86_64: vfio 0000:3b:00.0: failed to setup container")
            log.rename(rotated)
            append(log, "qemu-system-x86_64: load of migration failed: Invalid argument")
            assert errors() == {"device_error": 1, "io_error": 1, "migration_failure": 1,
                                "terminated_by_signal": 1}

            # logrotate's copytruncate (libvirt's packaged default)
            append(log, "padding line so the truncated file is shorter than our offset " * 3)
            assert errors()["io_error"] == 1
            shutil.copy(log, LOG_DIR / f"{name}.log.copy")
            with log.open("r+") as handle:
                handle.truncate(0)
            append(log, "block I/O error in device 'drive-virtio-disk0': No space left on device (28)")
            assert errors() == {"device_error": 1, "io_error": 2, "migration_failure": 1,
                                "terminated_by_signal": 1}
    finally:
        for leftover in (rotated, LOG_DIR / f"{name}.log.copy"):
            leftover.unlink(missing_ok=True)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_logs_of_domains_not_running_are_read_once_a_minute(tmp_path: Path) -> None:
    """The logs of running domains are followed at every poll, a stopped domain's for a
    minute more (libvirt's last lines), a new log at once, every other log at the sweep."""
    for name in ("web", "gone", "stopping"):
        (tmp_path / f"{name}.log").write_text("old line\n")
    clock = Clock()
    tailer = LogTailer(tmp_path, clock=clock)
    assert tailer.poll({"web": 1, "stopping": 2}) == {}  # the first poll: existing lines are old news

    for name in ("web", "gone", "stopping"):
        append(tmp_path / f"{name}.log", f"{name} wrote")
    (tmp_path / "new.log").write_text("new wrote\n")
    clock.now += 1
    assert tailer.poll({"web": 1}) == {"web": ["web wrote"], "stopping": ["stopping wrote"],
                                        "new": ["new wrote"]}
    clock.now += SWEEP_SECONDS / 2
    append(tmp_path / "stopping.log", "shutting down, reason=crashed")
    assert tailer.poll({"web": 1}) == {"stopping": ["shutting down, reason=crashed"]}
    clock.now += SWEEP_SECONDS / 2
    assert tailer.poll({"web": 1}) == {"gone": ["gone wrote"]}  # the sweep
    assert tailer.poll() == {}  # every log, nothing new


def test_unreadable_log_dir_is_reported(tmp_path: Path) -> None:
    with exporter(*QEMU_ONLY, f"--qemu.log-dir={tmp_path / 'missing'}") as running:
        samples = running.scrape()
    assert get(samples, "kvm_qemu_logs_readable") == 0
    assert get(samples, "kvm_scrape_collector_success", collector="qemu") == 1


def test_running_domains_confirm_each_pid_once(tmp_path: Path) -> None:
    run, procfs = tmp_path / "run", tmp_path / "proc"
    run.mkdir()
    for pid, argv in ((101, ["qemu-system-x86_64", "-name", "guest=web,debug-threads=on"]),
                      (102, ["sleep", "1000"])):
        (procfs / str(pid)).mkdir(parents=True)
        (procfs / str(pid) / "cmdline").write_bytes("\0".join(argv).encode() + b"\0")
    (run / "web.pid").write_text("101\n")
    (run / "db.pid").write_text("102\n")  # a stale pid file: pid 102 runs something else
    (run / "driver.pid").write_text("1\n")
    running = RunningDomains(run, procfs)
    assert running.read() == {"web": 101}
    (procfs / "101" / "cmdline").write_bytes(b"")  # not read again while the pid file is unchanged
    assert running.read() == {"web": 101}
    shutil.rmtree(procfs / "101")  # the process is gone
    assert running.read() == {}


def test_one_read_of_the_pid_files_per_collection_serves_every_collector(tmp_path: Path) -> None:
    """The kernel, QEMU and libvirt collectors all ask which QEMU runs which domain: the
    app's Shared reads the pid files once per collection and hands each a copy."""
    run, procfs = tmp_path / "run", tmp_path / "proc"
    run.mkdir()
    (procfs / "101").mkdir(parents=True)
    (procfs / "101" / "cmdline").write_bytes(b"qemu-system-x86_64\0-name\0guest=web\0")
    (run / "web.pid").write_text("101\n")
    shared = Shared(Settings(libvirt_run_dir=str(run), path_procfs=str(procfs)))
    shared.begin_collection()
    first = shared.running_domains()
    (run / "web.pid").unlink()  # read again only in the next collection
    first["changed"] = 1  # a caller's copy
    assert shared.running_domains() == {"web": 101}
    shared.begin_collection()
    assert shared.running_domains() == {}


@pytest.mark.parametrize(("text", "expected"), [
    ("4242 (qemu-system-x86) S 1 4242 4242 0 -1 4194624 5163 0 0 0 1234 567 0 0 20 0 7 0 "
     "1718 1277018112 9765 18446744073709551615", PidStat("S", 1234, 567, 7, 9765, 1718)),
    # a command name with a space and a closing parenthesis (prctl lets a process pick it)
    ("7 (a) b) Z 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 9 0 0 0", PidStat("Z", 1, 2, 1, 0, 9)),
])
def test_parse_pid_stat(text: str, expected: PidStat) -> None:
    assert parse_pid_stat(text) == expected


@pytest.mark.parametrize("text", [
    "", "7 (x) S 1 2 3", "7 (x) S 1 7 7 0 -1 0 0 0 0 0 a b 0 0 20 0 1 0 9 0 0 0"])
def test_garbled_pid_stat_is_an_error(text: str) -> None:
    with pytest.raises(ValueError, match="stat"):
        parse_pid_stat(text)


def test_boot_time_of_proc_stat() -> None:
    assert parse_boot_time((FIXTURES / "procfs" / "stat").read_text()) > 1_000_000_000
    with pytest.raises(ValueError, match="btime"):
        parse_boot_time("cpu  1 2 3\nintr 0\n")


def test_captured_qemu_stat_and_io_parse() -> None:
    captured = FIXTURES / "procfs" / "pid-qemu"
    assert parse_pid_stat((captured / "stat").read_text()) == PidStat("S", 6, 24, 6, 9561, 2481255, 0)
    assert parse_pid_io((captured / "io").read_text()) == (17920, 40960)


@pytest.mark.parametrize("text", ["", "rchar: 3131\nwchar: 11\n", "read_bytes: 1\n"])
def test_an_io_file_without_its_byte_counts_is_an_error(text: str) -> None:
    with pytest.raises(ValueError, match="io"):
        parse_pid_io(text)


def test_open_fds_counted_from_procfs_or_listed(tmp_path: Path) -> None:
    """The fd directory's size where the kernel gives the count there; a procfs that is not
    one (a plain directory) is listed."""
    expected = len(os.listdir(f"/proc/{os.getpid()}/fd"))
    counts = fd_dir_size_counts(Path("/proc"))
    assert abs(count_open_fds(Path("/proc"), os.getpid(), counts) - expected) <= 1
    fake = tmp_path / str(os.getpid()) / "fd"
    fake.mkdir(parents=True)
    (fake / "0").touch()
    assert not fd_dir_size_counts(tmp_path)
    assert count_open_fds(tmp_path, os.getpid(), False) == 1
