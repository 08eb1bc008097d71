"""Thermal and EDAC collectors on sysfs trees captured from real hosts (node_exporter's
fixtures) plus our additions, and on broken trees the tests build.

Faults: cpu_overheat, memory_ecc.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from support.domstats_fixtures import FIXTURES
from support.promtool import check_metrics
from support.scrape import Samples, get, parse_samples, series

from exporter.collectors.edac import EdacCollector, edac_families
from exporter.collectors.edac.reader import read_edac
from exporter.collectors.thermal import ThermalCollector, thermal_families
from exporter.collectors.thermal.reader import read_thermal
from exporter.http import create_app
from exporter.metrics import render
from exporter.settings import Settings

SYSFS = FIXTURES / "sysfs" / "sys"


async def scrape(aiohttp_client: Any, sysfs: Path) -> Samples:
    collectors = [ThermalCollector(str(sysfs), read_thermal, thermal_families),
                  EdacCollector(str(sysfs), read_edac, edac_families)]
    client = await aiohttp_client(create_app(Settings(), collectors))
    text = await (await client.get("/metrics")).text()
    assert check_metrics(text) == ""
    return parse_samples(text)


async def test_thermal_zones_trips_and_cooling(aiohttp_client: Any) -> None:
    samples = await scrape(aiohttp_client, SYSFS)
    assert get(samples, "kvm_scrape_collector_success", collector="thermal") == 1
    assert get(samples, "kvm_thermal_zone_temperature_celsius", zone="0", type="cpu-thermal") == 12.376
    assert get(samples, "kvm_thermal_zone_temperature_celsius", zone="1", type="x86_pkg_temp") == 67
    trips = {labels["trip_type"]: samples[("kvm_thermal_zone_trip_point_celsius", frozenset(labels.items()))]
             for labels in series(samples, "kvm_thermal_zone_trip_point_celsius", zone="1")}
    assert trips == {"passive": 85, "hot": 95, "critical": 105}
    assert get(samples, "kvm_thermal_zone_info", zone="1", type="x86_pkg_temp", policy="step_wise",
               mode="enabled") == 1
    assert get(samples, "kvm_cooling_device_max_state", device="0", type="Processor") == 3


async def test_hwmon_sensors(aiohttp_client: Any) -> None:
    samples = await scrape(aiohttp_client, SYSFS)
    core0 = {"chip": "platform_coretemp_0", "sensor": "temp2"}
    assert get(samples, "kvm_hwmon_temperature_celsius", **core0) == 54
    assert get(samples, "kvm_hwmon_temperature_max_celsius", **core0) == 84
    assert get(samples, "kvm_hwmon_temperature_crit_celsius", **core0) == 100
    assert get(samples, "kvm_hwmon_temperature_crit_alarm", **core0) == 0
    assert get(samples, "kvm_hwmon_sensor_info", **core0, label="Core 0") == 1
    assert get(samples, "kvm_hwmon_fan_rpm", chip="platform_applesmc_768", sensor="fan2") == 1998
    # Three hwmon devices under one Wi-Fi phy get distinct chip names.
    phy = [s["chip"] for s in series(samples, "kvm_hwmon_chip_info") if s["chip"].startswith("ieee80211")]
    assert sorted(phy) == [f"ieee80211_phy0_mt7996_phy0_{i}" for i in range(3)]


async def test_throttle_counters(aiohttp_client: Any) -> None:
    samples = await scrape(aiohttp_client, SYSFS)
    expected_cores = {}
    expected_packages = {}
    cpus = SYSFS / "devices/system/cpu"
    for cpu in sorted(os.listdir(cpus)):
        core_id = (cpus / cpu / "topology/core_id").read_text().strip()
        package_id = (cpus / cpu / "topology/physical_package_id").read_text().strip()
        counts = cpus / cpu / "thermal_throttle"
        expected_cores[(core_id, package_id)] = float((counts / "core_throttle_count").read_text())
        expected_packages[package_id] = float((counts / "package_throttle_count").read_text())
    cores = {(s["core"], s["package"]): get(samples, "kvm_cpu_core_throttles_total", **s)
             for s in series(samples, "kvm_cpu_core_throttles_total")}
    packages = {s["package"]: get(samples, "kvm_cpu_package_throttles_total", **s)
                for s in series(samples, "kvm_cpu_package_throttles_total")}
    assert cores == expected_cores and any(cores.values())
    assert packages == expected_packages == {"0": 30, "1": 6}


async def test_edac_both_layouts(aiohttp_client: Any) -> None:
    samples = await scrape(aiohttp_client, SYSFS)
    assert get(samples, "kvm_edac_uncorrectable_errors_total", controller="0") == 5
    assert get(samples, "kvm_edac_noinfo_uncorrectable_errors_total", controller="0") == 6
    assert get(samples, "kvm_edac_csrow_correctable_errors_total", controller="0", csrow="0") == 3
    assert get(samples, "kvm_edac_channel_uncorrectable_errors_total", controller="0", csrow="1",
               channel="0") == 2
    assert get(samples, "kvm_edac_dimm_correctable_errors_total", controller="1", dimm="dimm0") == 17
    assert get(samples, "kvm_edac_dimm_uncorrectable_errors_total", controller="1", dimm="dimm1") == 1
    assert get(samples, "kvm_edac_dimm_info", controller="1", dimm="dimm0",
               label="CPU_SrcID#1_MC#0_Chan#0_DIMM#0", location="channel 0 slot 0",
               mem_type="Registered-DDR4") == 1
    assert get(samples, "kvm_edac_dimm_size_bytes", controller="1", dimm="dimm1") == 32 * 2**30
    assert get(samples, "kvm_edac_controller_info", controller="1", name="Skylake Socket#1 IMC#0") == 1


@pytest.fixture
def broken_sysfs(tmp_path: Path) -> Path:
    """A copy of the coretemp chip and one EDAC controller with unreadable values."""
    root = tmp_path / "sys"
    chip = root / "devices/platform/coretemp.0/hwmon/hwmon0"
    shutil.copytree(SYSFS / "devices/platform/coretemp.0/hwmon/hwmon0", chip, symlinks=True)
    (root / "class/hwmon").mkdir(parents=True)
    (root / "class/hwmon/hwmon0").symlink_to("../../devices/platform/coretemp.0/hwmon/hwmon0")
    (chip / "temp2_input").write_text("garbage\n")
    (chip / "temp3_input").unlink()
    (chip / "temp3_input").mkdir()  # reading it fails with EISDIR, like EINVAL/EIO would
    (chip / "temp4_input").write_bytes(b"\xff\xfe\n")
    (chip / "temp5_input").write_text("-12000\n")  # negative is valid: -12 °C
    mc = root / "devices/system/edac/mc/mc0"
    mc.mkdir(parents=True)
    (mc / "ce_count").write_text("99999999999999999999999999999999999999999999999999\n")
    (mc / "ue_count").write_text("3\n")
    return root


async def test_unreadable_values_are_skipped_and_counted(aiohttp_client: Any, broken_sysfs: Path) -> None:
    samples = await scrape(aiohttp_client, broken_sysfs)
    assert get(samples, "kvm_scrape_collector_success", collector="thermal") == 1
    assert get(samples, "kvm_scrape_collector_success", collector="edac") == 1
    chip = "platform_coretemp_0"
    assert get(samples, "kvm_hwmon_temperature_celsius", chip=chip, sensor="temp1") == 55
    for sensor in ("temp2", "temp3", "temp4"):
        assert get(samples, "kvm_hwmon_temperature_celsius", chip=chip, sensor=sensor) is None
        assert get(samples, "kvm_hwmon_temperature_max_celsius", chip=chip, sensor=sensor) == 84
    assert get(samples, "kvm_hwmon_temperature_celsius", chip=chip, sensor="temp5") == -12
    assert get(samples, "kvm_collector_read_errors_total", collector="thermal") == 3
    assert get(samples, "kvm_collector_read_errors_total", collector="edac") == 1
    assert get(samples, "kvm_edac_uncorrectable_errors_total", controller="0") == 3


async def test_missing_trees_are_empty_not_errors(aiohttp_client: Any, tmp_path: Path) -> None:
    samples = await scrape(aiohttp_client, tmp_path)
    assert get(samples, "kvm_scrape_collector_success", collector="thermal") == 1
    assert get(samples, "kvm_collector_read_errors_total", collector="thermal") == 0
    assert not series(samples, "kvm_hwmon_temperature_celsius")


def test_alarm_flags_stay_booleans(tmp_path: Path) -> None:
    chip = tmp_path / "class/hwmon/hwmon0"
    chip.mkdir(parents=True)
    (chip / "name").write_text("k10temp\n")
    (chip / "temp1_input").write_text("97125\n")
    (chip / "temp1_crit_alarm").write_text("1\n")
    from exporter.sysfs import SysfsReader

    text = render(thermal_families(read_thermal(SysfsReader(tmp_path))))
    assert 'kvm_hwmon_temperature_crit_alarm{chip="k10temp",sensor="temp1"} 1\n' in text
    assert 'kvm_hwmon_temperature_celsius{chip="k10temp",sensor="temp1"} 97.125\n' in text
