"""Cross-check against the most used peer: Debian's prometheus-node-exporter 1.5.0 reads the
same sysfs fixture tree, and its values must equal ours for the same sensors.

Deliberate differences (documented in the README):
- alarms: node_exporter 1.5 scales `temp*_crit_alarm` by 0.001 (`..._crit_alarm_celsius`),
  so a raised alarm reads 0.001; ours stay 0/1 flags;
- chip names: where several hwmon devices share a parent, node_exporter 1.5 gives them one
  chip name (their series collide); ours append the driver's chip name, as newer
  node_exporter releases do. Such chips are left out of the comparison;
- EDAC csrow="unknown" in node_exporter is our `kvm_edac_noinfo_*` family;
- thermal zone trip points: node_exporter 1.5 does not export them (ours are checked
  against the files in tests/test_hardware.py).

Faults: cpu_overheat, memory_ecc.
"""

from __future__ import annotations

import shutil
import urllib.request
from collections.abc import Iterator

import pytest
from support.domstats_fixtures import SYSFS
from support.scrape import Samples, free_port, parse_samples, serving

from exporter.collectors.edac import edac_families
from exporter.collectors.edac.reader import read_edac
from exporter.collectors.thermal import thermal_families
from exporter.collectors.thermal.reader import read_thermal
from exporter.metrics import render
from exporter.sysfs import SysfsReader


@pytest.fixture(scope="module")
def node_exporter() -> Iterator[Samples]:
    binary = shutil.which("prometheus-node-exporter")
    assert binary, "install Debian's prometheus-node-exporter (deploy/install.sh --test does)"
    port = free_port()
    command = [binary, "--collector.disable-defaults", "--collector.hwmon", "--collector.thermal_zone",
               "--collector.edac", "--collector.cpu", f"--path.sysfs={SYSFS}",
               f"--web.listen-address=127.0.0.1:{port}"]
    url = f"http://127.0.0.1:{port}/metrics"
    with serving(command, url), urllib.request.urlopen(url, timeout=10) as response:
        yield parse_samples(response.read().decode())


@pytest.fixture(scope="module")
def ours() -> Samples:
    reader = SysfsReader(SYSFS)
    return parse_samples(render(thermal_families(read_thermal(reader)) + edac_families(read_edac(reader))))


def values(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: value for (n, labels), value in samples.items() if n == name}


def collided_chips(node: Samples) -> set[str]:
    """Chip names node_exporter 1.5 gives to more than one hwmon device."""
    names = [dict(labels)["chip"] for (n, labels) in node if n == "node_hwmon_chip_names"]
    return {chip for chip in names if names.count(chip) > 1}


@pytest.mark.parametrize(("theirs", "mine", "scale"), [
    ("node_hwmon_temp_celsius", "kvm_hwmon_temperature_celsius", 1),
    ("node_hwmon_temp_max_celsius", "kvm_hwmon_temperature_max_celsius", 1),
    ("node_hwmon_temp_crit_celsius", "kvm_hwmon_temperature_crit_celsius", 1),
    ("node_hwmon_temp_crit_alarm_celsius", "kvm_hwmon_temperature_crit_alarm", 1000),
    ("node_hwmon_fan_rpm", "kvm_hwmon_fan_rpm", 1),
])
def test_hwmon_values_match(node_exporter: Samples, ours: Samples, theirs: str, mine: str,
                            scale: float) -> None:
    collided = collided_chips(node_exporter)
    compared = 0
    for labels, value in values(node_exporter, theirs).items():
        if dict(labels)["chip"] in collided:
            continue
        assert ours.get((mine, labels)) == value * scale, (theirs, dict(labels))
        compared += 1
    assert compared >= 2


def test_hwmon_comparison_covers_the_core_sensors(node_exporter: Samples) -> None:
    temps = values(node_exporter, "node_hwmon_temp_celsius")
    chips = {dict(labels)["chip"] for labels in temps}
    assert {"platform_coretemp_0", "platform_coretemp_1", "hwmon4"} <= chips - collided_chips(node_exporter)


def test_cooling_devices_match(node_exporter: Samples, ours: Samples) -> None:
    for theirs, mine in (("node_cooling_device_cur_state", "kvm_cooling_device_state"),
                         ("node_cooling_device_max_state", "kvm_cooling_device_max_state")):
        found = values(node_exporter, theirs)
        assert found
        for labels, value in found.items():
            d = dict(labels)
            assert ours[(mine, frozenset({("device", d["name"]), ("type", d["type"])}))] == value


def test_edac_counts_match(node_exporter: Samples, ours: Samples) -> None:
    compared = 0
    for kind in ("correctable", "uncorrectable"):
        for labels, value in values(node_exporter, f"node_edac_{kind}_errors_total").items():
            assert ours[(f"kvm_edac_{kind}_errors_total", labels)] == value
            compared += 1
        for labels, value in values(node_exporter, f"node_edac_csrow_{kind}_errors_total").items():
            d = dict(labels)
            if d["csrow"] == "unknown":
                key = (f"kvm_edac_noinfo_{kind}_errors_total",
                       frozenset({("controller", d["controller"])}))
            else:
                key = (f"kvm_edac_csrow_{kind}_errors_total", labels)
            assert ours[key] == value, d
            compared += 1
    assert compared >= 10


def test_thermal_zones_match(node_exporter: Samples, ours: Samples) -> None:
    found = values(node_exporter, "node_thermal_zone_temp")
    assert len(found) == 2
    for labels, value in found.items():
        assert ours[("kvm_thermal_zone_temperature_celsius", labels)] == value


def test_throttle_counts_match(node_exporter: Samples, ours: Samples) -> None:
    for theirs, mine in (("node_cpu_core_throttles_total", "kvm_cpu_core_throttles_total"),
                         ("node_cpu_package_throttles_total", "kvm_cpu_package_throttles_total")):
        found = values(node_exporter, theirs)
        assert found
        assert found == values(ours, mine)
