"""Packaging as shipped: every Python package under exporter/ is listed in pyproject.toml (they
are listed, not discovered, because discovery would walk the symlink loops of the sysfs
fixtures); the systemd unit, the example web config and deploy/run-exporter.sh run the
exporter as shipped."""

from __future__ import annotations

import base64
import re
import resource
import shutil
import signal
import ssl
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt
import pytest
import trustme
import yaml
from support.scrape import free_port, only, serving

import exporter.collectors  # noqa: F401 - registers the collectors
from exporter.collector import COLLECTORS
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
    command = [
        "prlimit",
        f"--nofile={nofile}:{nofile}",
        binary,
        f"--web.listen-address=127.0.0.1:{port}",
        "--no-collector.smart",
        "--no-collector.libvirt",
    ]
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


def test_the_remediator_unit_runs_the_shipped_config_in_dry_run(tmp_path: Path) -> None:
    """The shipped kvm-remediator unit, its paths pointed at this checkout and a temp dir:
    systemd-analyze accepts it; its ExecStart, run as written, serves the shipped playbooks in
    dry-run, and stops on SIGTERM well within TimeoutStopSec."""
    text = (ROOT / "deploy" / "systemd" / "kvm-remediator.service").read_text()
    config_dir = tmp_path / "etc"
    config_dir.mkdir()
    shutil.copy(ROOT / "deploy" / "remediator" / "config.yml", config_dir / "config.yml")
    shutil.copytree(ROOT / "deploy" / "remediator" / "ansible", config_dir / "ansible")
    unit = tmp_path / "kvm-remediator.service"
    for shipped, here in (
        ("/opt/kvm-exporter/", f"{ROOT}/"),
        ("/etc/kvm-remediator/", f"{config_dir}/"),
        ("/var/lib/kvm-remediator/", f"{tmp_path}/state/"),
    ):
        text = text.replace(shipped, here)
    unit.write_text(text)
    if shutil.which("systemd-analyze"):
        verify = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
        assert verify.returncode == 0 and "kvm-remediator.service" not in verify.stderr, verify.stderr
    settings = unit_settings(unit.read_text())
    assert parse_duration(settings["TimeoutStopSec"][0]) > WATCHDOG_SECONDS
    assert "CAP_NET_ADMIN" in settings["AmbientCapabilities"][0]
    port = free_port()
    exec_start = settings["ExecStart"][0].replace("$ARGS", "").split()
    command = [*exec_start, f"--web.listen-address=127.0.0.1:{port}"]
    with serving(command, f"http://127.0.0.1:{port}/-/ready") as process:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            assert b"Mode: <b>dry-run</b>" in response.read()
        start = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    assert time.monotonic() - start < SHUTDOWN_SECONDS
    assert process.returncode == 0
    assert "playbooks=8" in stderr.decode() and "mode=dry-run" in stderr.decode()
    assert (tmp_path / "state").is_dir()  # the audit log's directory, as StateDirectory= makes it


def https_status(url: str, context: ssl.SSLContext, user: str, password: str) -> tuple[int, str]:
    """Status and X-Content-Type-Options header of an authenticated GET over TLS."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.status, response.headers.get("X-Content-Type-Options", "")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("X-Content-Type-Options", "")


def test_the_example_web_config_serves_tls_and_basic_auth(tmp_path: Path) -> None:
    """deploy/web-config.example.yml as shipped, its certificate paths pointed at a test CA's:
    the example user and password log in over TLS, others get a 401, headers come along."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "tls.crt"))
    cert.private_key_pem.write_to_path(str(tmp_path / "tls.key"))
    text = (ROOT / "deploy" / "web-config.example.yml").read_text()
    config = tmp_path / "web.yml"
    config.write_text(text.replace("/etc/kvm-exporter/", f"{tmp_path}/"))
    port = free_port()
    url = f"https://127.0.0.1:{port}/metrics"
    context = ssl.create_default_context()
    ca.configure_trust(context)
    command = [
        sys.executable,
        "-m",
        "exporter",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--web.config.file={config}",
        *only("process"),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status = https_status(url, context, "prometheus", "secret")  # the example's password
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "the exporter did not start"
                time.sleep(0.1)
        assert status == (200, "nosniff")
        assert https_status(url, context, "prometheus", "wrong") == (401, "nosniff")
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.slow
def test_run_exporter_sets_up_and_serves() -> None:
    """The README's first command, as shipped: deploy/run-exporter.sh installs (a no-op on a
    set-up machine) and runs the exporter with its arguments."""
    port = free_port()
    command = [
        str(ROOT / "deploy" / "run-exporter.sh"),
        f"--web.listen-address=127.0.0.1:{port}",
        *only("process"),
    ]
    with (
        serving(command, f"http://127.0.0.1:{port}/-/ready", seconds=300),
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response,
    ):
        assert b'kvm_scrape_collector_success{collector="process"} 1' in response.read()


def test_the_ansible_role_knows_every_collector() -> None:
    role_vars = yaml.safe_load(
        (ROOT / "deploy" / "ansible" / "roles" / "kvm_exporter" / "vars" / "main.yml").read_text()
    )
    assert role_vars["_kvm_exporter_collectors"] == sorted(COLLECTORS)


def test_the_example_inventory_passes_the_roles_checks() -> None:
    """deploy/ansible/inventory.example.yml: its basic-auth hash is a bcrypt hash the role's
    preflight accepts, of the password its comment names (the web-config example's)."""
    inventory = yaml.safe_load((ROOT / "deploy" / "ansible" / "inventory.example.yml").read_text())
    hypervisors = inventory["all"]["children"]["hypervisors"]
    pattern = yaml.safe_load(
        (ROOT / "deploy" / "ansible" / "roles" / "kvm_exporter" / "vars" / "main.yml").read_text()
    )["_kvm_exporter_bcrypt"]
    for hashed in hypervisors["vars"]["kvm_exporter_basic_auth_users"].values():
        assert re.match(pattern, hashed) and bcrypt.checkpw(b"secret", hashed.encode())
    assert all({"kvm_site", "kvm_rack", "kvm_cluster"} <= set(v) for v in hypervisors["hosts"].values())


def test_grafana_has_both_datasources_where_the_shipped_servers_listen() -> None:
    sources = yaml.safe_load(
        (ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "kvm-exporter.yml").read_text()
    )["datasources"]
    urls = {source["name"]: source["url"] for source in sources}
    listen = (ROOT / "deploy" / "victoriametrics" / "victoria-metrics.env").read_text()
    assert (
        urls["Prometheus"].endswith(":9090")
        and f"-httpListenAddr=:{urls['VictoriaMetrics'].rsplit(':', 1)[1]}" in listen
    )
