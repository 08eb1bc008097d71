"""Property-based: whatever bytes sysfs files hold (empty, truncated, non-numeric, huge,
negative, unicode, binary) and whatever JSON smartctl prints, the thermal, EDAC and SMART
parsers never raise anything but their ValueError, and the exposition stays valid.

Faults: cpu_overheat, memory_ecc, disk_smart.
"""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from exporter.collectors.edac import edac_families
from exporter.collectors.edac.reader import read_edac
from exporter.collectors.smart.report import DeviceResult, parse_json_object, smart_families
from exporter.collectors.thermal import thermal_families
from exporter.collectors.thermal.reader import read_thermal
from exporter.metrics import render
from exporter.sysfs import SysfsReader, parse_int

FILES = [
    "class/hwmon/hwmon0/name", "class/hwmon/hwmon0/temp1_input", "class/hwmon/hwmon0/temp1_max",
    "class/hwmon/hwmon0/temp1_label", "class/hwmon/hwmon0/temp1_crit_alarm",
    "class/hwmon/hwmon0/fan1_input",
    "class/thermal/thermal_zone0/type", "class/thermal/thermal_zone0/temp",
    "class/thermal/thermal_zone0/trip_point_0_temp", "class/thermal/thermal_zone0/trip_point_0_type",
    "class/thermal/cooling_device0/cur_state", "class/thermal/cooling_device0/type",
    "devices/system/cpu/cpu0/thermal_throttle/core_throttle_count",
    "devices/system/edac/mc/mc0/ce_count", "devices/system/edac/mc/mc0/csrow0/ch0_dimm_label",
    "devices/system/edac/mc/mc0/csrow0/ch0_ce_count", "devices/system/edac/mc/mc0/dimm0/dimm_label",
    "devices/system/edac/mc/mc0/dimm0/dimm_ue_count", "devices/system/edac/mc/mc0/dimm0/size",
]

numberish = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(lambda n: f"{n}\n".encode()),
    st.text(max_size=30).map(str.encode),
    st.binary(max_size=40),
    st.sampled_from([b"", b"\n", b"42", b"4 2\n", b"0x10\n", b"1e3\n", b"\xe2\x98\x83\n", b"-0\n"]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(numberish, min_size=len(FILES), max_size=len(FILES)))
def test_any_file_contents_give_valid_exposition(contents: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for relative, data in zip(FILES, contents, strict=True):
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        reader = SysfsReader(root)
        text = render(thermal_families(read_thermal(reader)) + edac_families(read_edac(reader)))
        names = {family.name for family in text_string_to_metric_families(text)}
        assert "kvm_hwmon_chip_info" in names
        assert reader.errors <= len(FILES)  # at most one error per file, counted once
        if all(re.fullmatch(rb"-?[0-9]{1,30}\n?", data) for data in contents):
            assert reader.errors == 0  # integers are read, never counted as errors


@given(st.text(max_size=50))
def test_parse_int_raises_only_value_error(text: str) -> None:
    try:
        value = parse_int(text)
    except ValueError:
        return
    stripped = text.strip()
    assert stripped.isascii() and stripped.lstrip("-").isdigit()
    assert value == int(stripped)


def test_parse_int_rejects_what_python_int_would_take() -> None:
    for text in ("1_000", "+7", "\u0663", " 1 2 ", "0x10", ""):
        try:
            parse_int(text)
        except ValueError:
            continue
        raise AssertionError(f"accepted {text!r}")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda children: (st.lists(children, max_size=4)
                      | st.dictionaries(st.text(max_size=12), children, max_size=4)),
    max_leaves=20,
)
smart_keys = st.sampled_from([
    "smartctl", "device", "smart_status", "temperature", "power_on_time", "power_cycle_count",
    "ata_smart_attributes", "nvme_smart_health_information_log", "scsi_error_counter_log",
    "scsi_grown_defect_list", "ata_smart_self_test_log", "user_capacity", "rotation_rate",
    "model_name", "serial_number"])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(smart_keys, json_values, min_size=1, max_size=10))
def test_any_smartctl_json_gives_valid_exposition(report: dict[str, object]) -> None:
    report.setdefault("device", {})
    report.setdefault("nvme_smart_health_information_log", {"critical_warning": float("nan")})
    text = json.dumps(report)
    parsed = parse_json_object(text)
    families = smart_families([DeviceResult("/dev/sda", up=True, report=parsed, last_success=1.0)])
    exposition = render(families)
    assert {f.name for f in text_string_to_metric_families(exposition)} >= {"kvm_smart_device_up"}


@given(st.binary(max_size=200))
def test_garbage_output_raises_only_value_error(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        parse_json_object(data.decode("utf-8", errors="replace"))
