"""The alerting bundle: generated files are current, promtool accepts and tests every rule,
every fault id has alerts, every metric the rules use exists, and the example
Alertmanager config routes and parses as documented."""

from __future__ import annotations

import contextlib
import filecmp
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from support.bundle import (
    ALERTS,
    ALERTS_DIR,
    FAULTS,
    LAYERS,
    RECORDS,
    ROOT,
    SLO_RECORDS,
    VM_RECORDS,
    generate,
    load_config,
    taxonomy_problems,
)
from support.domstats_fixtures import FIXTURES
from support.families import every_family_name, remediator_sample_names
from support.remediator import remediator
from support.scrape import exporter, free_port, serving

AM_CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"


def test_generated_files_are_current(tmp_path: Path) -> None:
    generate(tmp_path, load_config(None))
    for directory in ("rules", "tests", "runbooks"):
        comparison = filecmp.dircmp(tmp_path / directory, ALERTS_DIR / directory)
        assert not (comparison.left_only or comparison.right_only or comparison.diff_files), (
            f"alerts/{directory} is stale: run python alerts/generate.py",
            comparison.diff_files,
            comparison.left_only,
            comparison.right_only,
        )


def test_promtool_checks_the_rules() -> None:
    result = subprocess.run(
        ["promtool", "check", "rules", *sorted(map(str, (ALERTS_DIR / "rules").glob("*.yml")))],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow  # ~15 s of promtool: the quick tests stay under a minute
def test_promtool_unit_tests_pass() -> None:
    """One promtool per test file, all at once (the files are independent)."""
    tests = sorted(p.name for p in (ALERTS_DIR / "tests").glob("*.test.yml"))
    assert {f"{layer}.test.yml" for layer in LAYERS} | {"recording.test.yml"} <= set(tests)
    runs = {name: subprocess.Popen(["promtool", "test", "rules", name], cwd=ALERTS_DIR / "tests",
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for name in tests}
    for name, run in runs.items():
        output, _ = run.communicate(timeout=120)
        assert run.returncode == 0 and output.count("SUCCESS") == 1, (name, output)


def test_every_recording_rule_of_a_vm_has_a_promtool_case() -> None:
    """The per-VM records (VM dashboard, per-VM alerts) each give a known value on test series."""
    for record in VM_RECORDS:
        assert record.cases and all(case.samples for case in record.cases), record.record


def test_every_alert_fires_in_one_case_and_stays_quiet_in_another() -> None:
    for alert in ALERTS:
        firing = [c for c in alert.cases if c.labels is not None]
        quiet = [c for c in alert.cases if c.labels is None]
        assert firing and quiet, alert.name
        assert all(c.description for c in firing), alert.name


def test_every_alert_is_complete() -> None:
    names = [a.name for a in ALERTS]
    assert len(names) == len(set(names))
    for alert in ALERTS:
        assert re.fullmatch(r"([A-Z][a-z0-9]*)+", alert.name), alert.name
        assert alert.severity in ("critical", "warning", "info"), alert.name
        assert FAULTS[alert.fault].layer == alert.layer, alert.name
        assert alert.summary.endswith(".") and "{{" not in alert.summary, alert.name
        if alert.extra_labels.get("scope") == "fleet":  # one alert for the fleet: no host to name
            assert "instance" not in alert.expr.replace("instance:", ""), alert.name
        else:
            assert "{{ $labels.instance }}" in alert.description, alert.name
        assert alert.impact and alert.diagnosis and alert.mitigation, alert.name
        if "domain" in alert.expr or "VM" in alert.name[:2]:
            assert "{{ $labels.domain }}" in alert.description, alert.name
        runbook = (ALERTS_DIR / "runbooks" / f"{alert.name}.md").read_text()
        for section in ("## Meaning", "## Impact", "## Diagnosis", "## Mitigation"):
            assert section in runbook, (alert.name, section)


def test_every_fault_id_has_an_alert() -> None:
    assert {a.fault for a in ALERTS} == set(FAULTS)
    assert taxonomy_problems() == []



def test_runbook_meaning_is_the_rule_expression() -> None:
    rules = {
        rule["alert"]: rule
        for layer in LAYERS
        for group in yaml.safe_load((ALERTS_DIR / "rules" / f"{layer}.rules.yml").read_text())["groups"]
        for rule in group["rules"]
    }
    for name, rule in rules.items():
        runbook = (ALERTS_DIR / "runbooks" / f"{name}.md").read_text()
        assert f"```promql\n{rule['expr']}\n```" in runbook, name
        assert f"for `{rule['for']}`" in runbook, name
        assert rule["annotations"]["runbook_url"].endswith(f"/{name}.md")


def test_every_metric_in_the_rules_exists() -> None:
    """Every kvm_* name a rule reads is in the golden output or among the families the
    exporter can emit (some are only rendered when they have series), so a rename cannot
    silently break an alert."""
    golden = FIXTURES.joinpath("e2e-output.prom").read_text()
    known = set(re.findall(r"^# TYPE (\S+)", golden, re.M)) | every_family_name() | remediator_sample_names()
    recorded = {r.record for r in [*RECORDS, *SLO_RECORDS]}
    used = set()
    for text in [a.expr for a in ALERTS] + [r.expr for r in [*RECORDS, *SLO_RECORDS]]:
        used |= set(re.findall(r"(?<![:\w])(kvm_[a-z0-9_]+)", text))
        for name in re.findall(r"\b([a-z_]+:[a-z0-9_]+:[a-z0-9_]+)\b", text):
            assert name in recorded, name
    missing = sorted(used - known)
    assert not missing


def test_config_overrides_change_the_rules(tmp_path: Path) -> None:
    override = tmp_path / "mine.yml"
    override.write_text("selector: 'job=\"hv\"'\nthresholds:\n  cpu_allocation_ratio: 2\n")
    generate(tmp_path / "out", load_config(override))
    capacity = (tmp_path / "out" / "rules" / "capacity.rules.yml").read_text()
    assert "instance:kvm_host_cpu_allocation:ratio > 2" in capacity
    recording = (tmp_path / "out" / "rules" / "recording.rules.yml").read_text()
    assert 'kvm_host_cpus{job="hv"}' in recording and 'job="kvm-exporter"' not in recording
    bad = tmp_path / "bad.yml"
    bad.write_text("thresholds:\n  no_such_threshold: 1\n")
    with pytest.raises(SystemExit, match="no_such_threshold"):
        load_config(bad)


def test_availability_target_sets_the_error_budget(tmp_path: Path) -> None:
    mine = tmp_path / "mine.yml"
    mine.write_text("thresholds:\n  vm_availability_target: 0.999\n")
    generate(tmp_path / "out", load_config(mine))
    rules = (tmp_path / "out" / "rules" / "virtualization.rules.yml").read_text()
    assert "> (14.4 * 0.001)" in rules and "0.0001" not in rules
    slo = (tmp_path / "out" / "rules" / "slo.rules.yml").read_text()
    assert "kvm_domain_unavailable:ratio_avg30d / 0.001" in slo
    for bad in ("1", "0", "99.99", "'high'", "true"):
        mine.write_text(f"thresholds:\n  vm_availability_target: {bad}\n")
        with pytest.raises(SystemExit, match="vm_availability_target must be a number between 0 and 1"):
            generate(tmp_path / "bad", load_config(mine))


def test_alertmanager_config_is_valid() -> None:
    result = subprocess.run(["amtool", "check-config", str(AM_CONFIG)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 inhibit rules" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        ("severity=critical layer=storage fault=zfs_pool", "storage-pager"),
        ("severity=critical layer=network fault=vswitch_down", "network-pager"),
        ("severity=critical layer=virtualization fault=process_oom", "pager"),
        ("severity=warning layer=storage fault=zfs_pool", "storage-tickets"),
        ("severity=warning layer=hardware fault=memory_ecc", "tickets"),
        ("severity=info layer=storage fault=zfs_pool", "chat"),
        ("alertname=Unknown", "tickets"),
    ],
)
def test_alertmanager_routes(labels: str, receiver: str) -> None:
    result = subprocess.run(
        ["amtool", "config", "routes", "test", f"--config.file={AM_CONFIG}", *labels.split()],
        capture_output=True,
        text=True,
    )
    assert result.stdout.strip() == receiver, result.stdout + result.stderr


@pytest.mark.slow  # amtool once per alert
def test_every_alert_reaches_a_receiver_by_its_labels() -> None:
    for alert in ALERTS:
        labels = [f"severity={alert.severity}", f"layer={alert.layer}", f"fault={alert.fault}"]
        result = subprocess.run(
            ["amtool", "config", "routes", "test", f"--config.file={AM_CONFIG}", *labels],
            capture_output=True,
            text=True,
        )
        expected = {"critical": "pager", "warning": "tickets", "info": "chat"}[alert.severity]
        if alert.layer in ("storage", "network") and alert.severity != "info":
            expected = f"{alert.layer}-{expected}"
        assert result.stdout.strip() == expected, alert.name


@pytest.mark.slow
def test_the_demo_serves_the_bundle() -> None:
    ports = {name: free_port() for name in ("EXPORTER", "REMEDIATOR", "PROMETHEUS", "ALERTMANAGER")}
    env = {
        **os.environ,
        "KVM_DEMO_SKIP_INSTALL": "1",
        **{f"KVM_DEMO_{k}_PORT": str(v) for k, v in ports.items()},
    }
    demo = subprocess.Popen(
        ["bash", str(ROOT / "deploy" / "demo.sh"), "--no-collector.smart"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    prometheus = f"http://127.0.0.1:{ports['PROMETHEUS']}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{prometheus}/api/v1/rules", timeout=2) as response:
                    groups = json.loads(response.read())["data"]["groups"]
                with urllib.request.urlopen(f"{prometheus}/api/v1/alertmanagers", timeout=2) as response:
                    managers = json.loads(response.read())["data"]["activeAlertmanagers"]
                if groups and managers:
                    break
            except OSError:
                pass
            assert demo.poll() is None and time.monotonic() < deadline, "demo did not come up"
            time.sleep(0.5)
        assert {g["name"] for g in groups} == {"kvm-exporter.recording", "kvm-exporter.slo"} | {
            f"kvm-exporter.{x}" for x in LAYERS
        }
        assert sum(len(g["rules"]) for g in groups) == len(ALERTS) + len(RECORDS) + len(SLO_RECORDS)
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['EXPORTER']}/-/ready", timeout=5):
            pass
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['REMEDIATOR']}/", timeout=5) as response:
            assert b"Mode: <b>dry-run</b>" in response.read()
    except AssertionError as failure:
        failed: AssertionError | None = failure
    else:
        failed = None
    finally:
        with contextlib.suppress(ProcessLookupError):  # an early exit must not hide why
            os.killpg(demo.pid, signal.SIGTERM)
        output = demo.communicate(timeout=20)[0].decode()
    # the demo's own output says why it did not come up; a bare "did not come up" would not
    assert failed is None, f"{failed}\n{output}"
    assert f"Prometheus:    {prometheus}/alerts" in output


def shipped_prometheus_config(exporter: str, alertmanager: str, remediator: str = "127.0.0.1:9") -> str:
    """deploy/prometheus/prometheus.yml as shipped, with the same substitutions as the demo:
    the first hypervisor becomes `exporter` (and `remediator`), the second is dropped, the
    rules' path and the Alertmanager point here."""
    text = (ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text()
    lines = [line for line in text.splitlines(keepends=True) if "hypervisor-02.example.org" not in line]
    return (
        "".join(lines)
        .replace("hypervisor-01.example.org:9978", exporter)
        .replace("hypervisor-01.example.org:9979", remediator)
        .replace("alertmanager.example.org:9093", alertmanager)
        .replace("/etc/prometheus/kvm-exporter/rules/", f"{ALERTS_DIR / 'rules'}/")
    )


def prometheus_query(url: str, path: str) -> object:
    with urllib.request.urlopen(f"{url}{path}", timeout=5) as response:
        return json.loads(response.read())["data"]


@pytest.mark.slow
def test_the_shipped_prometheus_config_pages_when_the_exporter_stops(tmp_path: Path) -> None:
    """Follow the README as a new user would: the example scrape config with the shipped
    rules, scraping an exporter and a remediator. When the exporter stops, KvmExporterDown
    must go pending; when the remediator stops, KvmRemediatorDown."""
    config = tmp_path / "prometheus.yml"
    port = free_port()
    prometheus = f"http://127.0.0.1:{port}"
    with exporter("--no-collector.smart", "--no-collector.libvirt") as target, \
         remediator(tmp_path) as healer:
        config.write_text(shipped_prometheus_config(target.url.removeprefix("http://"), "127.0.0.1:9",
                                                    healer.url.removeprefix("http://")))
        command = [shutil.which("prometheus") or "prometheus", f"--config.file={config}",
                   f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"]
        with serving(command, f"{prometheus}/-/ready"):
            for job in ("kvm-exporter", "kvm-remediator"):
                up_query = f"/api/v1/query?query=up%7Bjob%3D%22{job}%22%7D"
                deadline = time.monotonic() + 60
                while not any(r["value"][1] == "1" for r in prometheus_query(prometheus, up_query)["result"]):
                    assert time.monotonic() < deadline, f"Prometheus never scraped job {job}"
                    time.sleep(1)
            stops = ((target.process, "KvmExporterDown", "exporter_health"),
                     (healer.process, "KvmRemediatorDown", "remediation"))
            for process, alertname, fault in stops:
                process.terminate()
                process.wait(10)
                deadline = time.monotonic() + 60
                while True:
                    alerts = prometheus_query(prometheus, "/api/v1/alerts")["alerts"]
                    down = [a for a in alerts if a["labels"]["alertname"] == alertname]
                    if down:
                        break
                    assert time.monotonic() < deadline, f"no {alertname}, alerts: {alerts}"
                    time.sleep(1)
                assert down[0]["state"] == "pending" and down[0]["labels"]["fault"] == fault


def test_every_alert_is_listed_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    assert [a.name for a in ALERTS if f"| `{a.name}` |" not in readme] == []
