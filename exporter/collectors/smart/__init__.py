"""The SMART collector (fault disk_smart): smartctl runs in the background on its own
interval, never inside a scrape; a scrape serves the last result of every device with its
age. Each smartctl run has a timeout and is killed when it expires; a hanging, failing or
garbage-printing device costs only its own `device_up`.

smartctl is called directly with `--json` rather than through pySMART: pySMART parses the
text output, has no per-call timeout or kill, and wakes sleeping disks (no `--nocheck`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time

from exporter.collector import register
from exporter.collectors.smart.report import (
    DeviceResult,
    ScanDevice,
    low_power_skip,
    parse_json_object,
    parse_scan,
    smart_families,
)
from exporter.commands import CommandError, parse_off_loop
from exporter.metrics import Family, gauge
from exporter.options import Option, duration, regex
from exporter.poller import Poller, first_wait
from exporter.settings import Settings
from exporter.shared import Shared

log = logging.getLogger(__name__)

OPEN_FAILED_BITS = 0b11  # command line error or device open failed: no data at all


class SmartctlError(Exception):
    pass


class SmartPoller:
    def __init__(self, settings: Settings) -> None:
        self.smartctl = SMARTCTL.of(settings)
        self.interval = INTERVAL.of(settings)
        self.timeout = TIMEOUT.of(settings)
        self.nocheck = NOCHECK.of(settings)
        self.explicit = [parse_device_spec(d) for d in DEVICES.of(settings)]
        self.include = _optional_regex(DEVICE_INCLUDE.of(settings))
        self.exclude = _optional_regex(DEVICE_EXCLUDE.of(settings))
        self.results: dict[str, DeviceResult] = {}
        self.discovery_error = ""
        self.background = Poller("smartctl", self.poll_once, self.interval,
                                 first_wait(settings.collector_timeout))
        self._limit = asyncio.Semaphore(4)

    async def poll_once(self) -> None:
        devices = self.explicit or await self.discover()
        devices = [d for d in devices if self._wanted(d.name)]
        await asyncio.gather(*(self._read_limited(d) for d in devices))
        current = {d.name for d in devices}
        for name in set(self.results) - current:
            del self.results[name]

    def _wanted(self, name: str) -> bool:
        if self.include is not None and not self.include.search(name):
            return False
        return not (self.exclude is not None and self.exclude.search(name))

    async def discover(self) -> list[ScanDevice]:
        try:
            _, output = await self.run(["--scan-open", "--json"])
            devices = await parse_off_loop(parse_scan, output)
        except (SmartctlError, ValueError) as exc:
            if isinstance(exc, ValueError):
                self.background.failed("garbage")
            self.discovery_error = str(exc)
            log.warning("smartctl device scan failed", extra={"err": str(exc)})
            return [ScanDevice(name, r.type) for name, r in self.results.items()]
        self.discovery_error = ""
        return devices

    async def _read_limited(self, device: ScanDevice) -> None:
        async with self._limit:
            await self.read_device(device)

    async def read_device(self, device: ScanDevice) -> None:
        result = self.results.setdefault(device.name, DeviceResult(device.name, device.type))
        args = ["--json", "--all", f"--nocheck={self.nocheck}", device.name]
        if device.type:
            args += ["--device", device.type]
        try:
            code, output = await self.run(args)
            report = await parse_off_loop(parse_json_object, output)
        except SmartctlError as exc:
            result.up, result.error, result.skipped = False, str(exc), False
            return
        except ValueError:
            self.background.failed("garbage")
            result.up, result.error, result.skipped = False, "garbage", False
            return
        if low_power_skip(report):
            result.up, result.error, result.skipped = True, "", True
        elif code & OPEN_FAILED_BITS:
            result.up, result.error, result.skipped = False, "open_failed", False
        else:
            result.up, result.error, result.skipped = True, "", False
            result.report, result.last_success = report, time.time()

    async def run(self, args: list[str]) -> tuple[int, str]:
        try:
            return await self.background.status([self.smartctl, *args], self.timeout)
        except CommandError as exc:
            raise SmartctlError(str(exc)) from exc


def _optional_regex(pattern: str) -> re.Pattern[str] | None:
    return re.compile(pattern) if pattern else None


def parse_device_spec(spec: str) -> ScanDevice:
    """`/dev/sda` or `/dev/sda;sat` (smartctl_exporter's notation for a device type)."""
    name, _, dev_type = spec.partition(";")
    return ScanDevice(name, dev_type)


class SmartCollector:
    name = "smart"

    def __init__(self, poller: SmartPoller) -> None:
        self.poller = poller

    async def collect(self) -> list[Family]:
        await self.poller.background.first_round()
        discovery = gauge("smart_discovery_up", "Whether the last `smartctl --scan-open` worked (1) "
                          "or failed (0); failed scans keep the devices known before.")
        discovery.add((), 0 if self.poller.discovery_error else 1)
        results = sorted(self.poller.results.values(), key=lambda r: r.device)
        return [discovery, *smart_families(results), *self.poller.background.families()]

    async def close(self) -> None:
        await self.poller.background.stop()


SMARTCTL = Option("smartctl.path", "smartctl", "smartctl to run (smartmontools >= 7.0 for --json).")
INTERVAL = Option("smartctl.interval", 60.0, "How often smartctl reads every device, in the background.",
                  parse=duration, shown="60s")
TIMEOUT = Option("smartctl.timeout", 30.0, "Time one smartctl run may take before it is killed.",
                 parse=duration, shown="30s")
NOCHECK = Option("smartctl.nocheck", "standby", "Leave a device alone in this power mode or lower "
                 "(smartctl --nocheck).", choices=("never", "sleep", "standby", "idle"))
DEVICES: Option[tuple[str, ...]] = Option(
    "smartctl.device", (), "A device to read instead of discovering them, e.g. /dev/sda or "
    "'/dev/sda;sat' (repeatable).", repeatable=True)
DEVICE_INCLUDE = Option("smartctl.device-include", "", "Only devices whose name matches this regular "
                        "expression.", parse=regex)
DEVICE_EXCLUDE = Option("smartctl.device-exclude", "", "Leave out devices whose name matches this "
                        "regular expression.", parse=regex)


@register("smart", default_enabled=True,
          options=[SMARTCTL, INTERVAL, TIMEOUT, NOCHECK, DEVICES, DEVICE_INCLUDE, DEVICE_EXCLUDE],
          description="SMART health of disks via smartctl --json, polled in the background")
def create(settings: Settings, _shared: Shared) -> SmartCollector:
    return SmartCollector(SmartPoller(settings))
