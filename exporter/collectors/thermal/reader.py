"""Thermal zones (fault cpu_overheat), cooling devices, hwmon sensors and CPU throttle counters from sysfs.

Layout (kernel ABI): class/thermal/thermal_zoneN/{type,temp,policy,mode,trip_point_K_type,
trip_point_K_temp}, class/thermal/cooling_deviceN/{type,cur_state,max_state},
class/hwmon/hwmonN/{name,device,tempK_*,fanK_*}, devices/system/cpu/cpuN/thermal_throttle/.
Temperatures are millidegrees Celsius; alarms are 0/1 flags and stay 0/1 here.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from exporter.sysfs import SysfsReader

_SENSOR_FILE = re.compile(r"^(temp|fan)(\d+)_([a-z_]+)$")
_INVALID_CHIP_CHARS = re.compile(r"[^a-z0-9:_]")

TEMP_VALUES = ("input", "max", "crit", "min", "emergency")
TEMP_ALARMS = ("alarm", "max_alarm", "crit_alarm", "min_alarm", "emergency_alarm")
FAN_VALUES = ("input", "min", "max", "alarm")


@dataclass(frozen=True)
class TripPoint:
    index: str
    type: str
    celsius: float


@dataclass(frozen=True)
class ThermalZone:
    zone: str
    type: str
    celsius: float | None
    policy: str
    mode: str
    trips: tuple[TripPoint, ...] = ()


@dataclass(frozen=True)
class CoolingDevice:
    device: str
    type: str
    current: int | None
    maximum: int | None


@dataclass
class HwmonSensor:
    kind: str  # temp | fan
    number: int
    label: str = ""
    values: dict[str, float] = field(default_factory=dict)

    @property
    def sensor(self) -> str:
        return f"{self.kind}{self.number}"


@dataclass
class HwmonChip:
    chip: str
    chip_name: str
    sensors: list[HwmonSensor] = field(default_factory=list)


@dataclass(frozen=True)
class Throttle:
    cpu: str
    core_id: str
    package_id: str
    core: int | None
    package: int | None


@dataclass
class ThermalSnapshot:
    zones: list[ThermalZone]
    cooling: list[CoolingDevice]
    chips: list[HwmonChip]
    throttles: list[Throttle]


def millicelsius(value: int | None) -> float | None:
    return None if value is None else value / 1000


def read_thermal(reader: SysfsReader) -> ThermalSnapshot:
    return ThermalSnapshot(read_zones(reader), read_cooling(reader), read_hwmon(reader),
                           read_throttles(reader))


def read_zones(reader: SysfsReader) -> list[ThermalZone]:
    base = reader.path("class/thermal")
    zones = []
    for entry in reader.list_dir(base):
        if not entry.startswith("thermal_zone"):
            continue
        path = base / entry
        trips = []
        for name in reader.list_dir(path):
            match = re.fullmatch(r"trip_point_(\d+)_temp", name)
            if match is None:
                continue
            celsius = millicelsius(reader.read_int(path / name))
            if celsius is not None:
                trip_type = reader.read_str(path / f"trip_point_{match.group(1)}_type") or ""
                trips.append(TripPoint(match.group(1), trip_type, celsius))
        trips.sort(key=lambda t: int(t.index))
        zones.append(ThermalZone(
            zone=entry.removeprefix("thermal_zone"),
            type=reader.read_str(path / "type") or "",
            celsius=millicelsius(reader.read_int(path / "temp")),
            policy=reader.read_str(path / "policy") or "",
            mode=reader.read_str(path / "mode") or "",
            trips=tuple(trips),
        ))
    return zones


def read_cooling(reader: SysfsReader) -> list[CoolingDevice]:
    base = reader.path("class/thermal")
    return [
        CoolingDevice(
            device=entry.removeprefix("cooling_device"),
            type=reader.read_str(base / entry / "type") or "",
            current=reader.read_int(base / entry / "cur_state"),
            maximum=reader.read_int(base / entry / "max_state"),
        )
        for entry in reader.list_dir(base)
        if entry.startswith("cooling_device")
    ]


def clean_chip_name(name: str) -> str:
    return _INVALID_CHIP_CHARS.sub("_", name.lower()).strip("_")


def chip_base_name(reader: SysfsReader, path: Path) -> str:
    """node_exporter's stable chip name: <parent dir>_<device> of the device link, else the
    `name` file, else the hwmonN directory name."""
    device = path / "device"
    if os.path.lexists(device):
        real = Path(os.path.realpath(device))
        dev_name, dev_type = clean_chip_name(real.name), clean_chip_name(real.parent.name)
        if dev_name and dev_type:
            return f"{dev_type}_{dev_name}"
        if dev_name:
            return dev_name
    name = clean_chip_name(reader.read_str(path / "name") or "")
    return name or clean_chip_name(Path(os.path.realpath(path)).name)


def read_hwmon(reader: SysfsReader) -> list[HwmonChip]:
    base = reader.path("class/hwmon")
    chips = []
    for entry in reader.list_dir(base):
        path = base / entry
        if not path.is_dir():
            continue
        # Older drivers (applesmc, ...) keep name and sensor files in the device directory.
        name = reader.read_str(path / "name") or reader.read_str(path / "device" / "name") or ""
        chip = HwmonChip(chip_base_name(reader, path), name)
        chip.sensors = _read_sensors(reader, path) or _read_sensors(reader, path / "device")
        chips.append(chip)
    _make_chip_names_unique(chips)
    return chips


def _make_chip_names_unique(chips: list[HwmonChip]) -> None:
    """Several hwmon devices under one parent (a Wi-Fi phy, an ACPI WMI device) share
    node_exporter 1.5's base name; newer node_exporter appends the chip name, as we do."""
    seen: dict[str, int] = {}
    for chip in chips:
        seen[chip.chip] = seen.get(chip.chip, 0) + 1
    for chip in chips:
        if seen[chip.chip] > 1 and chip.chip_name:
            chip.chip = f"{chip.chip}_{clean_chip_name(chip.chip_name)}"


def _read_sensors(reader: SysfsReader, path: Path) -> list[HwmonSensor]:
    sensors: dict[str, HwmonSensor] = {}
    for name in reader.list_dir(path):
        match = _SENSOR_FILE.match(name)
        if match is None:
            continue
        kind, number, item = match.groups()
        wanted = (TEMP_VALUES + TEMP_ALARMS) if kind == "temp" else FAN_VALUES
        if item != "label" and item not in wanted:
            continue
        sensor = sensors.setdefault(f"{kind}{number}", HwmonSensor(kind, int(number)))
        if item == "label":
            sensor.label = reader.read_str(path / name) or ""
            continue
        value = reader.read_int(path / name)
        if value is not None:
            is_temperature = kind == "temp" and item in TEMP_VALUES
            sensor.values[item] = value / 1000 if is_temperature else value
    return sorted(sensors.values(), key=lambda s: (s.kind, s.number))


def read_throttles(reader: SysfsReader) -> list[Throttle]:
    base = reader.path("devices/system/cpu")
    throttles = []
    for entry in reader.list_dir(base):
        if not re.fullmatch(r"cpu\d+", entry):
            continue
        path = base / entry / "thermal_throttle"
        if not path.is_dir():
            continue
        topology = base / entry / "topology"
        core_id = reader.read_int(topology / "core_id")
        package_id = reader.read_int(topology / "physical_package_id")
        throttles.append(Throttle(
            cpu=entry.removeprefix("cpu"),
            core_id=str(core_id) if core_id is not None else entry.removeprefix("cpu"),
            package_id=str(package_id) if package_id is not None else "unknown",
            core=reader.read_int(path / "core_throttle_count"),
            package=reader.read_int(path / "package_throttle_count"),
        ))
    throttles.sort(key=lambda t: int(t.cpu))
    return throttles
