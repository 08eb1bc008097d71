"""Packaging as shipped: every Python package under exporter/ is listed in pyproject.toml (they
are listed, not discovered, because discovery would walk the symlink loops of the sysfs
fixtures), and the systemd unit runs the exporter."""

from __future__ import annotations

import resource
import shutil
import signal
import subprocess
import time
import tomllib
import urllib.request
from pathlib import Path

from support.scrape import free_port, serving

from exporter.durations import parse_duration
from exporter.server import SHUTDOWN_SECONDS, WATCHDOG_SECONDS

ROOT = Path(__file__).parent.parent


def test_every_package_is_listed() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "exporter").rglob("__init__.py")}
    assert listed == found


def unit_settings(text: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def test_the_systemd_unit_runs_the_exporter_within_its_limits(tmp_path: Path) -> None:
    """The shipped unit, its ExecStart pointed at this checkout: systemd-analyze accepts it, the
    exporter runs under its LimitNOFILE and stops on SIGTERM well within TimeoutStopSec."""
    text = (ROOT / "deploy" / "systemd" / "kvm-exporter.service").read_text()
    unit = tmp_path / "kvm-exporter.service"
    unit.write_text(text.replace("/opt/kvm-exporter/", f"{ROOT}/"))
    if shutil.which("systemd-analyze"):
        verify = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
        assert verify.returncode == 0 and "kvm-exporter.service" not in verify.stderr, verify.stderr
    settings = unit_settings(unit.read_text())
    # systemd may raise the hard limit; this sandbox may not (no CAP_SYS_RESOURCE): clamp to ours.
    nofile = min(int(settings["LimitNOFILE"][0]), resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    stop_seconds = parse_duration(settings["TimeoutStopSec"][0])
    assert stop_seconds > WATCHDOG_SECONDS
    binary = settings["ExecStart"][0].split()[0]
    port = free_port()
    command = ["prlimit", f"--nofile={nofile}:{nofile}", binary, f"--web.listen-address=127.0.0.1:{port}",
               "--no-collector.smart", "--no-collector.libvirt"]
    with serving(command, f"http://127.0.0.1:{port}/-/ready") as process:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
            assert b"kvm_exporter_build_info" in response.read()
        start = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=stop_seconds)
    assert time.monotonic() - start < SHUTDOWN_SECONDS
    assert process.returncode == 0
    assert "max_connections=256" in stderr.decode()
    assert "cannot raise the open files limit" not in stderr.decode()
