"""Pure parsers of `smartctl --json` output (fault disk_smart) and the metric families built from them.

One device's report is smartctl's JSON object as it printed it; the families pick the
fields the fault `disk_smart` needs: health, the failure predictors of ATA, NVMe and SCSI
drives, temperature, wear, power-on time, the last self-test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from exporter.metrics import Family, counter, gauge

# smartctl's exit status is a bit mask (smartctl(8), RETURN VALUES).
EXIT_BITS = ("command_line", "open_failed", "command_failed", "disk_failing",
             "prefail_at_threshold", "past_at_threshold", "error_log", "selftest_log")
NVME_WARNING_BITS = ("spare", "temperature", "reliability", "read_only", "volatile_backup",
                     "persistent_memory")
# ATA attributes whose raw value predicts failure (Backblaze, Google's disk study).
ATA_PREDICTORS = {
    5: ("reallocated_sectors", "Sectors the drive has reallocated (ATA attribute 5)."),
    187: ("reported_uncorrectable_errors", "Errors the drive could not correct (ATA attribute 187)."),
    197: ("pending_sectors", "Unstable sectors waiting to be remapped (ATA attribute 197)."),
    198: ("offline_uncorrectable_sectors", "Sectors found uncorrectable offline (ATA attribute 198)."),
    199: ("udma_crc_errors", "Interface CRC errors, usually the cable (ATA attribute 199)."),
}
NVME_DATA_UNIT_BYTES = 512_000


@dataclass(frozen=True)
class ScanDevice:
    name: str
    type: str


@dataclass
class DeviceResult:
    """The latest outcome for one device, with its last good report kept."""

    device: str
    type: str = ""
    up: bool = False
    error: str = ""
    report: dict[str, Any] | None = None
    last_success: float | None = None
    skipped: bool = False


def parse_json_object(text: str) -> dict[str, Any]:
    """smartctl's JSON output as a dict; ValueError on garbage (truncated, not JSON, no object)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"smartctl printed no valid JSON: {exc.msg} at char {exc.pos}") from exc
    # Some trimmed real captures lack the "smartctl" header but keep "device".
    if not isinstance(data, dict) or not ({"smartctl", "device"} & data.keys()):
        raise ValueError("smartctl JSON has neither a 'smartctl' nor a 'device' object")
    return data


def parse_scan(text: str) -> list[ScanDevice]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"smartctl --scan-open printed no valid JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise ValueError("smartctl --scan-open JSON is not an object")
    devices = data.get("devices") or []
    return [ScanDevice(str(d["name"]), str(d.get("type", ""))) for d in devices
            if isinstance(d, dict) and d.get("name")]


def low_power_skip(report: dict[str, Any]) -> bool:
    """smartctl -n STANDBY skipped a sleeping device instead of waking it."""
    messages = _dig(report, "smartctl", "messages") or []
    return any(isinstance(m, dict) and "mode" in str(m.get("string", "")).lower()
               and any(w in str(m.get("string", "")).upper() for w in ("STANDBY", "SLEEP", "IDLE"))
               for m in messages)


def exit_status(report: dict[str, Any]) -> int:
    value = _dig(report, "smartctl", "exit_status")
    return value if isinstance(value, int) else 0


def _dig(data: Any, *keys: str | int) -> Any:
    for key in keys:
        if isinstance(data, dict) and isinstance(key, str):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and -len(data) <= key < len(data):
            data = data[key]
        else:
            return None
    return data


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


class _Families:
    def __init__(self) -> None:
        d = ["device"]
        self.up = gauge("smart_device_up", "Whether smartctl read the device in its last run (1) or not (0).", d)
        self.error = gauge("smart_device_error", "Why the last smartctl run of the device failed.", ["device", "reason"])
        self.skipped = gauge("smart_device_skipped", "Whether the last run left the device alone because it was in a low-power mode (1).", d)
        self.last_success = gauge("smart_device_last_success_timestamp_seconds", "When smartctl last read the device, as a Unix timestamp; the data served is that old.", d)
        self.info = gauge("smart_device_info", "Identity of the device, as labels.",
                          ["device", "type", "protocol", "model_family", "model_name", "serial_number", "firmware_version"])
        self.capacity = gauge("smart_device_capacity_bytes", "User capacity of the device, in bytes.", d)
        self.rotation = gauge("smart_device_rotation_rate_rpm", "Rotation rate of the device (0 for solid state).", d)
        self.health = gauge("smart_health_passed", "Whether the device's overall SMART health self-assessment passed (1) or failed (0).", d)
        self.exit_status = gauge("smart_exit_status", "smartctl's exit status for the device (a bit mask).", d)
        self.exit_bits = gauge("smart_exit_status_flag", "One bit of smartctl's exit status, decoded.", ["device", "flag"])
        self.temperature = gauge("smart_temperature_celsius", "Current temperature of the device, in degrees Celsius.", d)
        self.trip = gauge("smart_temperature_trip_celsius", "Temperature limit the device reports (drive trip or operating maximum), in degrees Celsius.", d)
        self.power_on = counter("smart_power_on_seconds", "Time the device has been powered on, in seconds.", d)
        self.power_cycles = counter("smart_power_cycles", "Times the device was powered on.", d)
        self.attr_value = gauge("smart_attribute_value", "Normalized value of an ATA SMART attribute.", ["device", "id", "name"])
        self.attr_worst = gauge("smart_attribute_worst", "Worst normalized value an ATA SMART attribute has had.", ["device", "id", "name"])
        self.attr_threshold = gauge("smart_attribute_threshold", "Failure threshold of an ATA SMART attribute.", ["device", "id", "name"])
        self.attr_raw = gauge("smart_attribute_raw", "Raw value of an ATA SMART attribute.", ["device", "id", "name"])
        self.predictors = {i: gauge(f"smart_{name}", doc, d) for i, (name, doc) in ATA_PREDICTORS.items()}
        self.nvme_warning = gauge("smart_nvme_critical_warning", "NVMe critical warning byte (0 is healthy).", d)
        self.nvme_warning_bits = gauge("smart_nvme_critical_warning_flag", "One bit of the NVMe critical warning, decoded.", ["device", "flag"])
        self.nvme_spare = gauge("smart_nvme_available_spare_ratio", "NVMe available spare capacity, 0 to 1.", d)
        self.nvme_spare_threshold = gauge("smart_nvme_available_spare_threshold_ratio", "NVMe spare capacity below which the drive warns, 0 to 1.", d)
        self.nvme_used = gauge("smart_nvme_percentage_used_ratio", "NVMe estimate of life used, 0 to 1 (may exceed 1).", d)
        self.nvme_media_errors = counter("smart_nvme_media_errors", "NVMe unrecovered data integrity errors.", d)
        self.nvme_error_log = counter("smart_nvme_error_log_entries", "NVMe error log entries over the drive's life.", d)
        self.nvme_unsafe = counter("smart_nvme_unsafe_shutdowns", "NVMe shutdowns without notice.", d)
        self.nvme_read = counter("smart_nvme_read_bytes", "Data read from the NVMe drive, in bytes.", d)
        self.nvme_written = counter("smart_nvme_written_bytes", "Data written to the NVMe drive, in bytes.", d)
        self.scsi_defects = gauge("smart_scsi_grown_defects", "Entries in the SCSI grown defect list.", d)
        self.scsi_uncorrected = counter("smart_scsi_uncorrected_errors", "SCSI errors the drive could not correct, by operation.", ["device", "operation"])
        self.selftest = gauge("smart_last_selftest_passed", "Whether the device's latest self-test passed (1) or not (0).", d)

    def all(self) -> list[Family]:
        return [value for value in vars(self).values() if isinstance(value, Family)] + \
            list(self.predictors.values())


def smart_families(results: list[DeviceResult]) -> list[Family]:
    f = _Families()
    for result in results:
        key = (result.device,)
        f.up.add(key, 1 if result.up else 0)
        f.skipped.add(key, 1 if result.skipped else 0)
        if result.error:
            f.error.add((result.device, result.error), 1)
        if result.last_success is not None:
            f.last_success.add(key, result.last_success)
        if result.report is not None:
            _add_report(f, result.device, result.type, result.report)
    return f.all()


def _add(family: Family, labels: tuple[str, ...], value: Any, scale: float = 1) -> None:
    number = _number(value)
    if number is not None:
        family.add(labels, number * scale if scale != 1 else number)


def _add_report(f: _Families, device: str, dev_type: str, r: dict[str, Any]) -> None:
    key = (device,)
    f.info.add((device, dev_type or str(_dig(r, "device", "type") or ""),
                str(_dig(r, "device", "protocol") or ""), str(r.get("model_family") or ""),
                str(r.get("model_name") or ""), str(r.get("serial_number") or ""),
                str(r.get("firmware_version") or "")), 1)
    _add(f.capacity, key, _dig(r, "user_capacity", "bytes"))
    _add(f.rotation, key, r.get("rotation_rate"))
    passed = _dig(r, "smart_status", "passed")
    if isinstance(passed, bool):
        f.health.add(key, 1 if passed else 0)
    status = exit_status(r)
    f.exit_status.add(key, status)
    for bit, flag in enumerate(EXIT_BITS):
        f.exit_bits.add((device, flag), (status >> bit) & 1)
    _add(f.temperature, key, _dig(r, "temperature", "current"))
    trip = _dig(r, "temperature", "drive_trip")
    _add(f.trip, key, trip if trip is not None else _dig(r, "temperature", "op_limit_max"))
    hours, minutes = _dig(r, "power_on_time", "hours"), _dig(r, "power_on_time", "minutes") or 0
    if _number(hours) is not None and _number(minutes) is not None:
        f.power_on.add(key, hours * 3600 + minutes * 60)
    _add(f.power_cycles, key, r.get("power_cycle_count"))
    _add_ata(f, device, r)
    _add_nvme(f, device, r)
    _add_scsi(f, device, r)
    _add_selftest(f, device, r)


def _add_ata(f: _Families, device: str, r: dict[str, Any]) -> None:
    for attribute in _dig(r, "ata_smart_attributes", "table") or []:
        if not isinstance(attribute, dict) or not isinstance(attribute.get("id"), int):
            continue
        labels = (device, str(attribute["id"]), str(attribute.get("name", "")))
        _add(f.attr_value, labels, attribute.get("value"))
        _add(f.attr_worst, labels, attribute.get("worst"))
        _add(f.attr_threshold, labels, attribute.get("thresh"))
        raw = _dig(attribute, "raw", "value")
        _add(f.attr_raw, labels, raw)
        if attribute["id"] in f.predictors:
            _add(f.predictors[attribute["id"]], (device,), raw)


def _add_nvme(f: _Families, device: str, r: dict[str, Any]) -> None:
    log = r.get("nvme_smart_health_information_log")
    if not isinstance(log, dict):
        return
    key = (device,)
    warning = log.get("critical_warning")
    if isinstance(warning, int) and not isinstance(warning, bool):
        f.nvme_warning.add(key, warning)
        for bit, flag in enumerate(NVME_WARNING_BITS):
            f.nvme_warning_bits.add((device, flag), (warning >> bit) & 1)
    _add(f.nvme_spare, key, log.get("available_spare"), 0.01)
    _add(f.nvme_spare_threshold, key, log.get("available_spare_threshold"), 0.01)
    _add(f.nvme_used, key, log.get("percentage_used"), 0.01)
    _add(f.nvme_media_errors, key, log.get("media_errors"))
    _add(f.nvme_error_log, key, log.get("num_err_log_entries"))
    _add(f.nvme_unsafe, key, log.get("unsafe_shutdowns"))
    _add(f.nvme_read, key, log.get("data_units_read"), NVME_DATA_UNIT_BYTES)
    _add(f.nvme_written, key, log.get("data_units_written"), NVME_DATA_UNIT_BYTES)


def _add_scsi(f: _Families, device: str, r: dict[str, Any]) -> None:
    _add(f.scsi_defects, (device,), r.get("scsi_grown_defect_list"))
    for operation in ("read", "write", "verify"):
        _add(f.scsi_uncorrected, (device, operation),
             _dig(r, "scsi_error_counter_log", operation, "total_uncorrected_errors"))


def _add_selftest(f: _Families, device: str, r: dict[str, Any]) -> None:
    passed = _dig(r, "ata_smart_self_test_log", "standard", "table", 0, "status", "passed")
    if passed is None:
        passed = _dig(r, "nvme_self_test_log", "table", 0, "self_test_result", "value")
        passed = None if passed is None else passed == 0
    if isinstance(passed, bool):
        f.selftest.add((device,), 1 if passed else 0)
