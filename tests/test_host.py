"""The host collector: procfs parsers on a captured /proc, and the live values checked
against psutil's own reading of this machine.

Faults: overcommit.
"""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest
from support.domstats_fixtures import FIXTURES
from support.scrape import exporter, get, only

from exporter.procfs import (
    parse_cpu_seconds,
    parse_loadavg,
    parse_meminfo,
    parse_pressure,
    read_host,
    read_pressure,
)

PROCFS = FIXTURES / "procfs"
HOST_ONLY = only("host")


def test_captured_proc_parses_to_its_values() -> None:
    sample = read_host(PROCFS, 100)
    assert sample.cpu_seconds == {"user": 2330.53, "nice": 0, "system": 2052.36, "idle": 12230.74,
                                  "iowait": 20.81, "irq": 0, "softirq": 5.56, "steal": 1.14}
    assert sample.cpus == 2
    assert (sample.load.load1, sample.load.load15, sample.load.runnable) == (0.15, 0.26, 1)
    assert sample.memory["MemTotal"] == 24684092 * 1024
    assert sample.memory["HugePages_Total"] == 0
    assert sample.pressure["io"].full_seconds == pytest.approx(16.748301)
    assert set(sample.pressure) == {"cpu", "memory", "io"}


def test_kernel_without_psi_has_no_pressure(tmp_path: Path) -> None:
    assert read_pressure(tmp_path) == {}


@pytest.mark.parametrize("text", ["", "1.0 2.0", "0.1 0.2 0.3 nothing 42"])
def test_bad_loadavg_is_an_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_loadavg(text)


def test_stat_without_aggregate_line_is_an_error() -> None:
    with pytest.raises(ValueError, match="no aggregate cpu line"):
        parse_cpu_seconds("cpu0 1 2 3 4\n", 100)


def test_pressure_from_old_kernels_has_no_full_line() -> None:
    pressure = parse_pressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=2500000\n")
    assert (pressure.some_seconds, pressure.full_seconds) == (2.5, None)


def test_meminfo_rows_without_units_stay_counts() -> None:
    assert parse_meminfo("HugePages_Free:       3\nMemFree: 10 kB\nbogus\n") == {
        "HugePages_Free": 3, "MemFree": 10240}


def test_live_host_values_agree_with_psutil() -> None:
    with exporter(*HOST_ONLY) as running:
        samples = running.scrape()
    cpu = psutil.cpu_times()
    assert get(samples, "kvm_host_cpu_seconds_total", mode="user") == pytest.approx(cpu.user, abs=5)
    assert get(samples, "kvm_host_cpu_seconds_total", mode="idle") == pytest.approx(cpu.idle, abs=10)
    assert get(samples, "kvm_host_meminfo_total_bytes") == psutil.virtual_memory().total
    assert get(samples, "kvm_host_meminfo_swap_total_bytes") == psutil.swap_memory().total
    assert get(samples, "kvm_host_logical_cpus") == psutil.cpu_count()
    assert get(samples, "kvm_host_load15") == pytest.approx(os.getloadavg()[2], abs=0.3)
    if Path("/proc/pressure/cpu").exists():
        assert (get(samples, "kvm_host_pressure_some_seconds_total", resource="cpu") or 0) > 0


def test_unreadable_procfs_fails_only_the_host_collector(tmp_path: Path) -> None:
    with exporter(*HOST_ONLY, "--collector.process", f"--path.procfs={tmp_path}") as running:
        samples = running.scrape()
    assert get(samples, "kvm_scrape_collector_success", collector="host") == 0
    assert get(samples, "kvm_scrape_collector_success", collector="process") == 1
