"""The Ansible content as shipped (deploy/ansible/): ansible-lint clean, the kvm_exporter role
run against this host into a scratch root (check mode, a real run, a second run with nothing
to change), the exporter it installed started exactly as its rendered unit says and scraped
over the TLS and basic auth it rendered; the monitoring playbook's file_sd targets, rules and
per-host remediator routes; the remediator playbook; bad inventories stopped by preflight
with a message naming the host.

Faults: exporter_health (a deployment that cannot scrape is the first fault of a fleet).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import trustme
import yaml
from support.scrape import free_port, serving

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (users, /etc paths of the role)"),
]

ROOT = Path(__file__).resolve().parent.parent
ANSIBLE = ROOT / "deploy" / "ansible"
VENV_BIN = Path(sys.executable).parent
PLAYBOOK = str(VENV_BIN / "ansible-playbook")  # ansible-core from PyPI, the test extra
USER = "kvmxt-exporter-test"
REMEDIATOR_USER = "kvmxt-remediator-test"


def play(
    playbook: str, inventory: Path, *args: str, extra: dict[str, Any] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    command = [PLAYBOOK, "-i", str(inventory), str(ANSIBLE / playbook), *args]
    if extra:
        command += ["--extra-vars", json.dumps(extra)]
    env = {
        **os.environ,
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_LOCAL_TEMP": str(inventory.parent / "ansible-tmp"),
        "ANSIBLE_HOME": str(inventory.parent),
    }
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    if check:
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result


def recap(output: str) -> dict[str, int]:
    line = next(line for line in output.splitlines() if "ok=" in line and "changed=" in line)
    return {k: int(v) for k, v in (part.split("=") for part in line.split(":", 1)[1].split())}


def wheel(tmp: Path) -> Path:
    """The project as a wheel, as a release would ship it (a source tree is rebuilt and
    reinstalled by pip on every run, so only a wheel or a version makes the run idempotent)."""
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp / "dist"), str(ROOT)]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    return next((tmp / "dist").glob("kvm_exporter-*.whl"))


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Role variables pointing every path into a scratch root, TLS and a bcrypt user."""
    root = tmp_path / "root"
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    (root / "pki").mkdir(parents=True)
    cert.cert_chain_pems[0].write_to_path(str(root / "pki" / "tls.crt"))
    cert.private_key_pem.write_to_path(str(root / "pki" / "tls.key"))
    port = free_port()
    variables = {
        "kvm_exporter_package": str(wheel(tmp_path)),
        "kvm_exporter_python": sys.executable,
        "kvm_exporter_install_dir": str(root / "opt" / "kvm-exporter"),
        "kvm_exporter_config_dir": str(root / "etc" / "kvm-exporter"),
        "kvm_exporter_unit_dir": str(root / "etc" / "systemd" / "system"),
        "kvm_exporter_manage_service": False,
        "kvm_exporter_install_apt_packages": False,
        "kvm_exporter_system_user": USER,
        "kvm_exporter_system_group": USER,
        "kvm_exporter_web_listen_address": f"127.0.0.1:{port}",
        "kvm_exporter_tls_server_config": {
            "cert_file": str(root / "pki" / "tls.crt"),
            "key_file": str(root / "pki" / "tls.key"),
        },
        "kvm_exporter_basic_auth_users": {
            "prometheus": bcrypt.hashpw(b"role-secret", bcrypt.gensalt(4)).decode()
        },
        "kvm_exporter_disabled_collectors": [
            "smart",
            "libvirt",
            "libvirt_networks",
            "storage",
            "config",
            "qemu",
        ],
        "kvm_exporter_flags": {"collector.timeout": "5s", "log.format": "json",
                               "no-probe.auto-targets": True},  # never a probe off the machine
        "kvm_exporter_probe_peers": ["lo9=127.0.0.9"],
    }
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "children": {
                        "hypervisors": {
                            "hosts": {
                                "localhost": {
                                    "ansible_connection": "local",
                                    "ansible_python_interpreter": sys.executable,
                                    "kvm_site": "lab",
                                    "kvm_rack": "r1",
                                    "kvm_cluster": "test",
                                    **variables,
                                }
                            }
                        }
                    }
                }
            }
        )
    )
    yield {"inventory": inventory, "vars": variables, "root": root, "port": port, "ca": ca}
    for user in (USER, REMEDIATOR_USER):
        subprocess.run(["userdel", user], capture_output=True, check=False)
        subprocess.run(["groupdel", user], capture_output=True, check=False)


def test_the_ansible_content_is_lint_clean() -> None:
    lint = VENV_BIN / "ansible-lint"
    # community.libvirt (the remediator's example playbook) comes with Debian's ansible
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": "/usr/lib/python3/dist-packages", "NO_COLOR": "1"}
    result = subprocess.run(
        [str(lint), "deploy/ansible", "deploy/remediator/ansible"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    for playbook in ("kvm-exporter.yml", "monitoring.yml", "remediator.yml"):
        play(playbook, ANSIBLE / "inventory.example.yml", "--syntax-check")


def test_the_role_installs_configures_and_is_idempotent(scratch: dict[str, Any]) -> None:
    inventory, variables, port = scratch["inventory"], scratch["vars"], scratch["port"]
    checked = play("kvm-exporter.yml", inventory, "--check")
    assert recap(checked.stdout)["failed"] == 0
    first = play("kvm-exporter.yml", inventory)
    assert recap(first.stdout)["changed"] > 0
    second = play("kvm-exporter.yml", inventory)
    assert recap(second.stdout)["changed"] == 0, second.stdout[-3000:]
    unit = Path(variables["kvm_exporter_unit_dir"]) / "kvm-exporter.service"
    shipped = (ROOT / "deploy" / "systemd" / "kvm-exporter.service").read_text()
    rendered = unit.read_text()
    # the role's unit is the shipped one: every hardening line is there, as shipped
    kept = [
        line
        for line in shipped.splitlines()
        if "=" in line
        and not line.startswith(
            ("#", "ExecStart=", "User=", "Group=", "SupplementaryGroups=", "Documentation=")
        )
    ]
    assert [line for line in kept if line not in rendered.splitlines()] == []
    exec_start = next(line for line in rendered.splitlines() if line.startswith("ExecStart="))
    command = exec_start.removeprefix("ExecStart=").replace("$ARGS", "").split()
    assert command[0] == f"{variables['kvm_exporter_install_dir']}/.venv/bin/kvm-exporter"
    assert "--no-collector.smart" in command and "--collector.timeout=5s" in command
    web = Path(variables["kvm_exporter_config_dir"]) / "web.yml"
    assert f"--web.config.file={web}" in command
    peers = Path(variables["kvm_exporter_config_dir"]) / "probe-peers"
    assert f"--probe.peers-file={peers}" in command and peers.read_text() == "lo9=127.0.0.9\n"
    context = ssl.create_default_context()
    scratch["ca"].configure_trust(context)
    url = f"https://127.0.0.1:{port}/metrics"
    with started(command, url, context):
        assert fetch(url, context, "prometheus", "role-secret")[0] == 200
        assert fetch(url, context, "prometheus", "wrong")[0] == 401
        body = fetch(url, context, "prometheus", "role-secret")[1]
        assert "kvm_exporter_build_info" in body and 'collector="smart"' not in body
        assert 'kvm_probe_targets{source="peers"} 1' in body


class started:
    """The exporter started from the rendered ExecStart, until it answers over TLS."""

    def __init__(self, command: list[str], url: str, context: ssl.SSLContext) -> None:
        self.command, self.url, self.context = command, url, context

    def __enter__(self) -> subprocess.Popen[bytes]:
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while True:
            try:
                fetch(self.url, self.context, "", "")
                return self.process
            except OSError:
                assert self.process.poll() is None, self.process.stderr.read().decode()  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "the installed exporter did not answer"
                time.sleep(0.2)

    def __exit__(self, *_: object) -> None:
        self.process.terminate()
        self.process.wait(10)


def fetch(url: str, context: ssl.SSLContext, user: str, password: str) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if user:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


def test_the_example_inventory_probes_the_other_hypervisors_of_each_cluster(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yml"
    document = yaml.safe_load((ANSIBLE / "inventory.example.yml").read_text())
    hosts = document["all"]["children"]["hypervisors"]["hosts"]
    hosts["hv3.example.org"] = {"kvm_site": "ams1", "kvm_rack": "r1", "kvm_cluster": "prod-b"}
    inventory.write_text(yaml.safe_dump(document))
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_HOME": str(tmp_path)}
    peers = {}
    for host in hosts:
        command = [str(VENV_BIN / "ansible"), "-i", str(inventory), host, "-m", "ansible.builtin.debug",
                   "-a", "var=kvm_exporter_probe_peers"]
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=True)
        answer = done.stdout.split("=>", 1)[1]  # HOST | SUCCESS => {...}
        peers[host] = json.loads(answer)["kvm_exporter_probe_peers"]
    assert peers == {"hv1.example.org": ["hv2.example.org"], "hv2.example.org": ["hv1.example.org"],
                     "hv3.example.org": []}


def test_preflight_names_the_host_and_stops_before_anything_changes(scratch: dict[str, Any]) -> None:
    inventory = scratch["inventory"]
    bad_hash = play(
        "kvm-exporter.yml",
        inventory,
        check=False,
        extra={"kvm_exporter_basic_auth_users": {"prometheus": "plaintext-password"}},
    )
    assert bad_hash.returncode != 0
    assert "localhost: kvm_exporter_basic_auth_users[prometheus] is not a bcrypt hash" in bad_hash.stdout
    unknown = play(
        "kvm-exporter.yml",
        inventory,
        check=False,
        extra={"kvm_exporter_enabled_collectors": ["thermal", "nonesuch"]},
    )
    assert unknown.returncode != 0 and "unknown or contradictory collectors ['nonesuch']" in unknown.stdout
    assert not (scratch["root"] / "opt").exists()  # preflight stopped it before the install
    document = yaml.safe_load(inventory.read_text())
    del document["all"]["children"]["hypervisors"]["hosts"]["localhost"]["kvm_rack"]
    inventory.write_text(yaml.safe_dump(document))
    missing = play("monitoring.yml", inventory, check=False)
    assert missing.returncode != 0
    assert "localhost: set kvm_site, kvm_rack and kvm_cluster" in missing.stdout


def test_the_monitoring_playbook_writes_targets_rules_and_routes(tmp_path: Path) -> None:
    out = tmp_path / "prom"
    inventory = tmp_path / "inventory.yml"
    hosts = {
        "hv1.example.org": {"kvm_site": "fra1", "kvm_rack": "r12", "kvm_cluster": "prod-a"},
        "hv2.example.org": {"kvm_site": "ams1", "kvm_rack": "r3", "kvm_cluster": "prod-b"},
    }
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "children": {
                        "hypervisors": {"hosts": hosts},
                        "monitoring": {
                            "hosts": {
                                "localhost": {
                                    "ansible_connection": "local",
                                    "ansible_python_interpreter": sys.executable,
                                }
                            }
                        },
                    }
                }
            }
        )
    )
    extra = {
        "kvm_monitoring_rules_dir": str(out / "rules"),
        "kvm_monitoring_targets_dir": str(out / "targets"),
        "kvm_monitoring_alertmanager_config": str(out / "alertmanager.yml"),
    }
    play("monitoring.yml", inventory, extra=extra)
    assert recap(play("monitoring.yml", inventory, extra=extra).stdout)["changed"] == 0
    targets = json.loads((out / "targets" / "kvm-exporter.json").read_text())
    assert targets == [
        {"targets": ["hv1.example.org:9978"], "labels": {"site": "fra1", "rack": "r12", "cluster": "prod-a"}},
        {"targets": ["hv2.example.org:9978"], "labels": {"site": "ams1", "rack": "r3", "cluster": "prod-b"}},
    ]
    assert json.loads((out / "targets" / "kvm-remediator.json").read_text())[1]["targets"] == [
        "hv2.example.org:9979"
    ]
    shipped_rules = sorted(p.name for p in (ROOT / "alerts" / "rules").glob("*.rules.yml"))
    assert sorted(p.name for p in (out / "rules").iterdir()) == shipped_rules
    amtool = shutil.which("amtool") or "amtool"
    check = subprocess.run(
        [amtool, "check-config", str(out / "alertmanager.yml")], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    config = yaml.safe_load((out / "alertmanager.yml").read_text())
    shipped = yaml.safe_load((ROOT / "deploy" / "alertmanager" / "alertmanager.yml").read_text())
    receivers = {r["name"]: r for r in config["receivers"]}
    assert (
        receivers["remediator-hv2.example.org"]["webhook_configs"][0]["url"]
        == "http://hv2.example.org:9979/alerts"
    )
    assert "remediator-hv1" not in receivers and "pager" in receivers
    assert config["inhibit_rules"] == shipped["inhibit_rules"]
    for host, label in (("hv1.example.org", "critical"), ("hv2.example.org", "warning")):
        route = subprocess.run(
            [
                amtool,
                "config",
                "routes",
                "test",
                f"--config.file={out / 'alertmanager.yml'}",
                f"instance={host}:9978",
                f"severity={label}",
                "layer=virtualization",
                "fault=domain_failure",
                "alertname=VmCrashed",
            ],
            capture_output=True,
            text=True,
        )
        assert route.stdout.split()[0].split(",") == [
            f"remediator-{host}",
            "pager" if label == "critical" else "tickets",
        ], route.stdout + route.stderr
    other = subprocess.run(
        [
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={out / 'alertmanager.yml'}",
            "instance=hv3.example.org:9978",
            "severity=critical",
            "layer=virtualization",
        ],
        capture_output=True,
        text=True,
    )
    assert "remediator" not in other.stdout


def test_the_remediator_playbook_installs_it_in_dry_run(scratch: dict[str, Any]) -> None:
    inventory, root = scratch["inventory"], scratch["root"]
    play("kvm-exporter.yml", inventory, "--tags", "kvm_exporter_install")
    port = free_port()
    extra = {
        "kvm_remediator_user": REMEDIATOR_USER,
        "kvm_remediator_config_dir": str(root / "etc" / "kvm-remediator"),
        "kvm_remediator_unit_dir": str(root / "etc" / "systemd" / "system"),
        "kvm_remediator_default_file": str(root / "etc" / "default" / "kvm-remediator"),
        "kvm_remediator_manage_service": False,
        "kvm_remediator_listen_address": f"127.0.0.1:{port}",
        "kvm_exporter_install_dir": scratch["vars"]["kvm_exporter_install_dir"],
    }
    (root / "etc" / "default").mkdir(parents=True, exist_ok=True)
    play("remediator.yml", inventory, extra=extra)
    assert recap(play("remediator.yml", inventory, extra=extra).stdout)["changed"] == 0
    unit = (root / "etc" / "systemd" / "system" / "kvm-remediator.service").read_text()
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    args = (root / "etc" / "default" / "kvm-remediator").read_text().split('ARGS="')[1].split('"')[0]
    command = exec_start.removeprefix("ExecStart=").replace("$ARGS", args).split()
    command = [c.replace("/var/lib/kvm-remediator/", f"{root}/state/") for c in command]
    with (
        serving(command, f"http://127.0.0.1:{port}/-/ready"),
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response,
    ):
        page = response.read().decode()
    assert "Mode: <b>dry-run</b>" in page and "Acting for: localhost" in page
    bad = play("remediator.yml", inventory, check=False, extra={**extra, "kvm_remediator_mode": "yolo"})
    assert bad.returncode != 0 and "localhost: kvm_remediator_mode must be dry-run or enforce" in bad.stdout
