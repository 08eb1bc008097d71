"""The thermal collector (fault cpu_overheat): zones with trip points, cooling devices,
hwmon temperatures/alarms/fans and CPU throttle counters."""

from __future__ import annotations

from exporter.collector import SysfsCollector, register
from exporter.collectors.thermal.reader import ThermalSnapshot, read_thermal
from exporter.metrics import Family, counter, gauge
from exporter.settings import Settings
from exporter.shared import Shared

CS = ("chip", "sensor")

TEMP_FAMILIES = {
    "input": ("hwmon_temperature_celsius", "Temperature of the hwmon sensor, in degrees Celsius."),
    "max": ("hwmon_temperature_max_celsius", "High limit of the hwmon sensor, in degrees Celsius."),
    "crit": ("hwmon_temperature_crit_celsius", "Critical limit of the hwmon sensor, in degrees Celsius."),
    "min": ("hwmon_temperature_min_celsius", "Low limit of the hwmon sensor, in degrees Celsius."),
    "emergency": ("hwmon_temperature_emergency_celsius",
                  "Emergency limit of the hwmon sensor, in degrees Celsius."),
    "alarm": ("hwmon_temperature_alarm", "Whether the sensor's alarm is raised (1) or not (0)."),
    "max_alarm": ("hwmon_temperature_max_alarm",
                  "Whether the sensor is above its high limit (1) or not (0)."),
    "crit_alarm": ("hwmon_temperature_crit_alarm",
                   "Whether the sensor is above its critical limit (1) or not (0)."),
    "min_alarm": ("hwmon_temperature_min_alarm", "Whether the sensor is below its low limit (1) or not (0)."),
    "emergency_alarm": ("hwmon_temperature_emergency_alarm",
                        "Whether the sensor is above its emergency limit (1) or not (0)."),
}
FAN_FAMILIES = {
    "input": ("hwmon_fan_rpm", "Speed of the fan, in revolutions per minute."),
    "min": ("hwmon_fan_min_rpm", "Low limit of the fan speed, in revolutions per minute."),
    "max": ("hwmon_fan_max_rpm", "High limit of the fan speed, in revolutions per minute."),
    "alarm": ("hwmon_fan_alarm", "Whether the fan's alarm is raised (1) or not (0)."),
}


def thermal_families(snapshot: ThermalSnapshot) -> list[Family]:
    return [*_zone_families(snapshot), *_hwmon_families(snapshot), *_throttle_families(snapshot)]


def _zone_families(snapshot: ThermalSnapshot) -> list[Family]:
    info = gauge("thermal_zone_info", "Type, policy and mode of the thermal zone, as labels.",
                 ["zone", "type", "policy", "mode"])
    temp = gauge("thermal_zone_temperature_celsius", "Temperature of the thermal zone, in degrees "
                 "Celsius.", ["zone", "type"])
    trips = gauge("thermal_zone_trip_point_celsius", "Temperature of a trip point of the thermal "
                  "zone (passive, active, hot, critical), in degrees Celsius.",
                  ["zone", "type", "trip", "trip_type"])
    for zone in snapshot.zones:
        info.add((zone.zone, zone.type, zone.policy, zone.mode), 1)
        if zone.celsius is not None:
            temp.add((zone.zone, zone.type), zone.celsius)
        for trip in zone.trips:
            trips.add((zone.zone, zone.type, trip.index, trip.type), trip.celsius)
    cur = gauge("cooling_device_state", "Current cooling state of the device (0 = off).", ["device", "type"])
    top = gauge("cooling_device_max_state", "Highest cooling state of the device.", ["device", "type"])
    for device in snapshot.cooling:
        if device.current is not None:
            cur.add((device.device, device.type), device.current)
        if device.maximum is not None:
            top.add((device.device, device.type), device.maximum)
    return [info, temp, trips, cur, top]


def _hwmon_families(snapshot: ThermalSnapshot) -> list[Family]:
    chips = gauge("hwmon_chip_info", "The hwmon chip and its driver's name.", ["chip", "chip_name"])
    labels = gauge("hwmon_sensor_info", "The label the driver gives the sensor.", ["chip", "sensor", "label"])
    temps = {k: gauge(name, doc, CS) for k, (name, doc) in TEMP_FAMILIES.items()}
    fans = {k: gauge(name, doc, CS) for k, (name, doc) in FAN_FAMILIES.items()}
    for chip in snapshot.chips:
        chips.add((chip.chip, chip.chip_name), 1)
        for sensor in chip.sensors:
            key = (chip.chip, sensor.sensor)
            if sensor.label:
                labels.add((*key, sensor.label), 1)
            table = temps if sensor.kind == "temp" else fans
            for item, value in sensor.values.items():
                table[item].add(key, value)
    return [chips, labels, *temps.values(), *fans.values()]


def _throttle_families(snapshot: ThermalSnapshot) -> list[Family]:
    """Per core and per package, as node_exporter: the SMT siblings of a core, and all CPUs
    of a package, report the same counter; it is exported once."""
    core = counter("cpu_core_throttles", "Times the CPU core was throttled because it ran too hot.",
                   ["core", "package"])
    package = counter("cpu_package_throttles", "Times the CPU package was throttled because it ran "
                      "too hot.", ["package"])
    cores: dict[tuple[str, str], int] = {}
    packages: dict[str, int] = {}
    for throttle in snapshot.throttles:
        if throttle.core is not None:
            cores.setdefault((throttle.core_id, throttle.package_id), throttle.core)
        if throttle.package is not None:
            packages.setdefault(throttle.package_id, throttle.package)
    for key, value in sorted(cores.items()):
        core.add(key, value)
    for package_id, value in sorted(packages.items()):
        package.add((package_id,), value)
    return [core, package]


class ThermalCollector(SysfsCollector[ThermalSnapshot]):
    name = "thermal"


@register("thermal", default_enabled=True,
          description="thermal zones and trip points, cooling devices, hwmon sensors, CPU throttling")
def create(settings: Settings, _shared: Shared) -> ThermalCollector:
    return ThermalCollector(settings.path_sysfs, read_thermal, thermal_families)
