"""SMART: parsers on every real capture, and the background poller end to end through a
fake smartctl (`tests/support/fake_smartctl.py`) that replays captures per device, including a
device that hangs and one that prints garbage.

Faults: disk_smart.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import psutil
import pytest
from support.domstats_fixtures import FIXTURES
from support.promtool import check_metrics
from support.scrape import Samples, get, parse_samples
from support.smart_fakes import FAKE, build_fake_smartctl

from exporter.collectors.smart import SmartCollector, SmartPoller
from exporter.collectors.smart.report import DeviceResult, parse_json_object, parse_scan, smart_families
from exporter.http import create_app
from exporter.metrics import render
from exporter.settings import Settings

CAPTURES = FIXTURES / "smartctl"
DEVICE_CAPTURES = sorted(p for p in CAPTURES.glob("*/*.json") if "scan" not in p.name)


def report(name: str) -> dict[str, Any]:
    return parse_json_object((CAPTURES / name).read_text())


def families_of(reports: dict[str, dict[str, Any]]) -> Samples:
    results = [DeviceResult(device, up=True, report=r, last_success=1.0) for device, r in reports.items()]
    return parse_samples(render(smart_families(results)))


def test_every_capture_parses_into_valid_exposition() -> None:
    reports = {f"/dev/{p.parent.name}/{p.stem}": report(f"{p.parent.name}/{p.name}") for p in DEVICE_CAPTURES}
    assert len(reports) >= 120
    text = render(smart_families([DeviceResult(d, up=True, report=r) for d, r in reports.items()]))
    assert check_metrics(text) == ""
    samples = parse_samples(text)
    infos = [labels for name, labels in samples if name == "kvm_smart_device_info"]
    assert len(infos) == len(reports)


def test_failing_ata_disk() -> None:
    s = families_of({"/dev/sda": report("scrutiny/smart-fail2.json")})
    assert get(s, "kvm_smart_health_passed", device="/dev/sda") == 0
    assert get(s, "kvm_smart_reallocated_sectors", device="/dev/sda") == 1975
    assert get(s, "kvm_smart_pending_sectors", device="/dev/sda") == 8
    assert get(s, "kvm_smart_exit_status", device="/dev/sda") == 216
    flags = {f: get(s, "kvm_smart_exit_status_flag", device="/dev/sda", flag=f) for f in
             ("disk_failing", "prefail_at_threshold", "error_log", "selftest_log", "open_failed")}
    assert flags == {"disk_failing": 1, "prefail_at_threshold": 1, "error_log": 1,
                     "selftest_log": 1, "open_failed": 0}
    assert get(s, "kvm_smart_attribute_raw", device="/dev/sda", id="5", name="Reallocated_Sector_Ct") == 1975
    assert get(s, "kvm_smart_power_on_seconds_total", device="/dev/sda") == 65592 * 3600


def test_nvme_and_scsi() -> None:
    s = families_of({"/dev/nvme0": report("scrutiny/smart-nvme-failed.json"),
                     "/dev/sdc": report("scrutiny/smart-scsi.json")})
    nvme = {"device": "/dev/nvme0"}
    assert get(s, "kvm_smart_nvme_media_errors_total", **nvme) == 7
    assert get(s, "kvm_smart_nvme_error_log_entries_total", **nvme) == 62
    assert get(s, "kvm_smart_nvme_percentage_used_ratio", **nvme) == 0.03
    assert get(s, "kvm_smart_nvme_available_spare_ratio", **nvme) == 0.99
    assert get(s, "kvm_smart_nvme_written_bytes_total", **nvme) == 65602088 * 512000
    assert get(s, "kvm_smart_nvme_critical_warning_flag", **nvme, flag="spare") == 0
    assert get(s, "kvm_smart_scsi_grown_defects", device="/dev/sdc") == 56
    assert get(s, "kvm_smart_temperature_trip_celsius", device="/dev/sdc") == 68
    assert get(s, "kvm_smart_scsi_uncorrected_errors_total", device="/dev/sdc", operation="read") == 0


@pytest.mark.parametrize("text", ["", "{", "[]", '{"devices": []}', "\x00\xff", "not json at all"])
def test_garbage_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_json_object(text)


def test_scan_capture() -> None:
    devices = parse_scan((CAPTURES / "scrutiny/smartctl_scan_simple.json").read_text())
    assert len(devices) == 7 and devices[0].name == "/dev/sda" and devices[0].type == "scsi"


@pytest.fixture
def fake_smartctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FAKE_SMARTCTL_DIR", str(tmp_path))
    return build_fake_smartctl(tmp_path)


def smart_settings(**options: Any) -> Settings:
    """Settings with smartctl options by flag name without the `smartctl.` prefix
    (`device_include=...` is `--smartctl.device-include`)."""
    values: dict[str, Any] = {"path": str(FAKE), "timeout": 1.0, "interval": 60.0} | options
    flags = {f"smartctl.{name.replace('_', '-')}": value for name, value in values.items()}
    return Settings(collector_timeout=5.0, options=flags)


def calls(fake: Path) -> list[str]:
    return (fake / "calls.log").read_text().splitlines()


async def test_poller_end_to_end(aiohttp_client: Any, fake_smartctl: Path) -> None:
    collector = SmartCollector(SmartPoller(smart_settings()))
    client = await aiohttp_client(create_app(smart_settings(), [collector]))
    text = await (await client.get("/metrics")).text()
    assert check_metrics(text) == ""
    s = parse_samples(text)
    assert get(s, "kvm_scrape_collector_success", collector="smart") == 1
    assert get(s, "kvm_smart_discovery_up") == 1
    for device in ("/dev/sda", "/dev/sdb", "/dev/nvme0", "/dev/sdc"):
        assert get(s, "kvm_smart_device_up", device=device) == 1
        assert get(s, "kvm_smart_device_last_success_timestamp_seconds", device=device) > 0
    assert get(s, "kvm_smart_device_up", device="/dev/sdd") == 0
    assert get(s, "kvm_smart_device_error", device="/dev/sdd", reason="timeout") == 1
    assert get(s, "kvm_smart_device_up", device="/dev/sde") == 0
    assert get(s, "kvm_smart_device_error", device="/dev/sde", reason="garbage") == 1
    assert get(s, "kvm_smart_device_skipped", device="/dev/sdf") == 1
    assert get(s, "kvm_smart_health_passed", device="/dev/sda") == 0
    assert get(s, "kvm_smart_nvme_media_errors_total", device="/dev/nvme0") == 7
    # No sleeping disk is woken, and the hung smartctl was killed.
    device_calls = [c for c in calls(fake_smartctl) if "--scan-open" not in c]
    assert len(device_calls) == 7 and all("--nocheck=standby" in c for c in device_calls)
    pids = [int(p) for p in (fake_smartctl / "pids.log").read_text().split()]
    assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
    # Scrapes serve the last result; they never run smartctl themselves.
    before = len(calls(fake_smartctl))
    for _ in range(3):
        assert (await client.get("/metrics")).status == 200
    assert len(calls(fake_smartctl)) == before


async def test_filters_and_explicit_devices(fake_smartctl: Path) -> None:
    poller = SmartPoller(smart_settings(device_include=r"^/dev/sd",
                                        device_exclude=r"sd[d-f]$"))
    await poller.poll_once()
    assert sorted(poller.results) == ["/dev/sda", "/dev/sdb", "/dev/sdc"]
    (fake_smartctl / "calls.log").unlink()
    explicit = SmartPoller(smart_settings(device=("/dev/nvme0;nvme",)))
    await explicit.poll_once()
    assert list(explicit.results) == ["/dev/nvme0"]
    assert calls(fake_smartctl) == ["--json --all --nocheck=standby /dev/nvme0 --device nvme"]


async def test_a_device_that_starts_failing_keeps_its_last_report(fake_smartctl: Path) -> None:
    poller = SmartPoller(smart_settings(device=("/dev/sdb",)))
    await poller.poll_once()
    first = poller.results["/dev/sdb"].last_success
    (fake_smartctl / "devices/sdb.garbage").write_text("oops")
    await asyncio.sleep(0.01)
    await poller.poll_once()
    result = poller.results["/dev/sdb"]
    assert (result.up, result.error, result.last_success) == (False, "garbage", first)
    s = parse_samples(render(smart_families([result])))
    assert get(s, "kvm_smart_device_up", device="/dev/sdb") == 0
    assert get(s, "kvm_smart_temperature_celsius", device="/dev/sdb") == 36


async def test_missing_smartctl(tmp_path: Path) -> None:
    poller = SmartPoller(smart_settings(path=str(tmp_path / "no-smartctl")))
    await poller.poll_once()
    assert poller.discovery_error == "exec_failed" and poller.results == {}


async def test_close_during_a_hanging_run_kills_smartctl_and_returns(fake_smartctl: Path) -> None:
    collector = SmartCollector(SmartPoller(smart_settings(device=("/dev/sdd",),
                                                          timeout=600.0)))
    collect = asyncio.ensure_future(collector.collect())
    for _ in range(100):  # until the fake smartctl for the hanging device has started
        if (fake_smartctl / "pids.log").exists():
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    async with asyncio.timeout(5):
        await collector.close()
    collect.cancel()
    pid = int((fake_smartctl / "pids.log").read_text().split()[0])
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
