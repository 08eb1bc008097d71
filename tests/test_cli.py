from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

import exporter.collectors  # noqa: F401 - registers the collectors
from exporter.cli import parse_settings
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
