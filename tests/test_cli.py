from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from exporter.cli import parse_settings
from exporter.collector import COLLECTORS
from exporter.collectors import smart
from exporter.collectors.config import CONFIG_DIR
from exporter.durations import parse_duration


@pytest.mark.parametrize(("text", "seconds"), [("5s", 5), ("1m30s", 90), ("250ms", 0.25), ("1h", 3600)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "5x", "s5", "1m 5s", "0s", "-1s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_defaults_enable_every_default_collector() -> None:
    settings = parse_settings([])
    assert settings.listen_address == ":9978"
    assert {"libvirt", "process"} <= settings.collectors
    assert settings.collector_timeout == 8


def test_collector_flags_and_values() -> None:
    settings = parse_settings(["--no-collector.libvirt", "--collector.timeout=1m",
                               "--libvirt.uri=test:///default", "--log.format=json"])
    assert "libvirt" not in settings.collectors
    assert settings.collector_timeout == 60
    assert settings.libvirt_uri == "test:///default"


def test_the_cli_needs_no_import_first() -> None:
    """parse_settings itself registers the collectors (before, it returned none unless
    exporter.collectors had been imported first)."""
    program = "from exporter.cli import parse_settings; print(sorted(parse_settings([]).collectors))"
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert "'libvirt'" in result.stdout and "'thermal'" in result.stdout, result.stdout + result.stderr


def test_disable_defaults_keeps_only_the_collectors_named() -> None:
    settings = parse_settings(["--collector.disable-defaults", "--collector.libvirt", "--collector.ovs"])
    assert settings.collectors == {"libvirt", "ovs"}
    everything_but = parse_settings(["--no-collector.thermal"]).collectors
    assert everything_but == {n for n, spec in COLLECTORS.items() if spec.default_enabled} - {"thermal"}


def test_collector_options_come_typed_from_their_collector() -> None:
    settings = parse_settings(["--smartctl.interval=5m", "--smartctl.device=/dev/sda",
                               "--smartctl.device=/dev/nvme0;nvme", "--path.rootfs=/host"])
    assert smart.INTERVAL.of(settings) == 300
    assert smart.DEVICES.of(settings) == ("/dev/sda", "/dev/nvme0;nvme")
    assert smart.TIMEOUT.of(settings) == 30
    assert CONFIG_DIR.of(settings) == "/host/etc/libvirt"
    assert settings.libvirt_run_dir == "/host/run/libvirt/qemu"
    assert CONFIG_DIR.of(parse_settings(["--libvirt.config-dir=/x"])) == "/x"


def test_every_option_is_declared_once() -> None:
    flags = [o.flag for spec in COLLECTORS.values() for o in spec.options]
    assert len(flags) == len(set(flags))


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "exporter", *args], capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--collector.timeout=soon"], "not a duration: 'soon'"),
        (["--web.listen-address=nowhere"], "is not host:port"),
        (["--log.level=loud"], "invalid choice: 'loud'"),
        (["--collector.nonesuch"], "unrecognized arguments: --collector.nonesuch"),
        (["--web.config.file=/nonexistent/web.yml"], "cannot read web config /nonexistent/web.yml"),
        (["--libvirt.parallel-calls=0"], "must be a whole number >= 1"),
        (["--smartctl.device-include=("], "not a regular expression: '('"),
        (["--zfs.interval=often"], "not a duration: 'often'"),
        (["--libvirt.stats-groups=block,disk"], "not a stats group: disk (choose from balloon"),
    ],
)
def test_bad_flags_exit_2_with_one_line(args: list[str], expected: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]


def test_invalid_web_config_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "web.yml"
    config.write_text("basic_auth_users:\n  alice: plaintext\nunknown: 1\n")
    result = run_cli(f"--web.config.file={config}")
    assert result.returncode == 2
    assert "basic_auth_users.alice: not a bcrypt hash" in result.stderr
    assert "unknown key 'unknown'" in result.stderr


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("kvm-exporter ")


def test_address_in_use_exits_1_with_a_clear_log_line() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = run_cli(f"--web.listen-address=127.0.0.1:{port}", "--no-collector.libvirt")
    assert result.returncode == 1
    assert 'msg="cannot listen"' in result.stderr and "address already in use" in result.stderr
