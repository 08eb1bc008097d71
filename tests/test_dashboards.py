"""The Grafana dashboards: regenerating changes nothing, they pass the rules of Grafana's
dashboard-linter, every metric they use exists, and every panel query returns data from a
real Prometheus scraping real exporters (or, for panels that show only faults, no error)."""

from __future__ import annotations

import filecmp
import json
import os
import re
import shutil
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import libvirt
import pytest
import yaml
from support.alerting_stack import alerting_stack
from support.bundle import ALERTS_DIR, FAULTS
from support.domstats_fixtures import FIXTURES
from support.families import every_family_name, remediator_sample_names
from support.fleet import victoria_metrics_args
from support.guests import file_disk
from support.images import qcow2
from support.remediator import alert, payload, remediator
from support.scrape import exporter, free_port, serving
from support.smart_fakes import FAKE as FAKE_SMARTCTL
from support.smart_fakes import build_fake_smartctl
from support.storage_fakes import build_fake_storage

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT / "dashboards"))

from generate_dashboards import DASHBOARDS, faults_only_panels, generate, panels_of  # noqa: E402

BOARDS = {name: json.loads((ROOT / "dashboards" / name).read_text()) for name in DASHBOARDS}
SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}")
RANGE = re.compile(r"\[([^\]]+)\]")
FUNCTIONS = {"rate", "increase", "sum", "max", "min", "count", "sort_desc", "time", "by", "on", "bool"}


def targets() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    return [
        (name, panel, target)
        for name, board in BOARDS.items()
        for panel in panels_of(board)
        for target in panel["targets"]
    ]


def test_regenerating_changes_nothing(tmp_path: Path) -> None:
    generate(tmp_path)
    for name in DASHBOARDS:
        assert filecmp.cmp(tmp_path / name, ROOT / "dashboards" / name, shallow=False), (
            f"dashboards/{name} is stale: run python dashboards/generate_dashboards.py"
        )


def test_template_variables() -> None:
    for name, board in BOARDS.items():
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert (
            variables["datasource"]["type"] == "datasource"
            and variables["datasource"]["query"] == "prometheus"
        )
        for var in ("job", "instance"):
            assert variables[var]["multi"] and variables[var]["includeAll"], (name, var)
            assert variables[var]["datasource"]["uid"] == "${datasource}"
        if name == "kvm-vm.json":
            assert "domain" in variables


def test_every_panel_uses_the_datasource_variable_and_has_unit_title_description() -> None:
    uids = [board["uid"] for board in BOARDS.values()]
    assert sorted(uids) == ["kvm-fleet", "kvm-host", "kvm-vm"]
    for name, board in BOARDS.items():
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), name
        for panel in panels_of(board):
            where = (name, panel["title"])
            assert panel["title"] and panel["description"], where
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, where
            assert panel["fieldConfig"]["defaults"]["unit"], where
            assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, where
            assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"]), where


def test_every_query_selects_job_and_instance_and_uses_rate_interval() -> None:
    for name, panel, target in targets():
        expr = target["expr"]
        where = (name, panel["title"], expr)
        selectors = SELECTOR.findall(expr)
        assert selectors, where
        for metric, matchers in selectors:
            if "kvm_remediator" in metric or 'job=~"$remediator_job"' in matchers:  # the remediators' job
                assert 'job=~"$remediator_job"' in matchers, (where, metric)
                continue
            assert 'job=~"$job"' in matchers and 'instance=~"$instance"' in matchers, (where, metric)
        for window in RANGE.findall(expr):
            assert window == "$__rate_interval", where


def test_counters_only_under_rate_or_increase() -> None:
    for name, panel, target in targets():
        expr = target["expr"]
        for match in re.finditer(r"\b(kvm_[a-z0-9_]+_total)\{[^}]*\}", expr):
            before = expr[: match.start()]
            after = expr[match.end() :]
            assert re.search(r"\b(rate|increase)\($", before) and after.startswith("[$__rate_interval])"), (
                name,
                panel["title"],
                match.group(1),
            )


def test_every_metric_used_exists() -> None:
    golden = (FIXTURES / "e2e-output.prom").read_text()
    known = set(re.findall(r"^# TYPE (\S+)", golden, re.M)) | every_family_name() | {"ALERTS", "up"}
    known |= remediator_sample_names()
    for name in ("recording.rules.yml", "slo.rules.yml"):
        recording = yaml.safe_load((ALERTS_DIR / "rules" / name).read_text())
        known |= {rule["record"] for group in recording["groups"] for rule in group["rules"]}
    for name, panel, target in targets():
        for metric, _ in SELECTOR.findall(target["expr"]):
            assert metric in known, (name, panel["title"], metric)


def test_thresholds_match_the_alert_defaults() -> None:
    thresholds = yaml.safe_load((ALERTS_DIR / "config.yml").read_text())["thresholds"]
    host = {p["title"]: p for p in panels_of(BOARDS["kvm-host.json"])}
    steps = [s["value"] for s in host["vCPU allocation"]["fieldConfig"]["defaults"]["thresholds"]["steps"]]
    assert steps == [None, thresholds["cpu_allocation_ratio"]]
    steps = [s["value"] for s in host["Thermal zones"]["fieldConfig"]["defaults"]["thresholds"]["steps"]]
    assert steps == [
        None,
        thresholds["temperature_warning_celsius"],
        thresholds["temperature_critical_celsius"],
    ]


def test_fleet_map_has_a_panel_per_fault_id() -> None:
    titles = {p["title"] for p in panels_of(BOARDS["kvm-fleet.json"])}
    for fault in FAULTS:
        assert f"{fault}: firing alerts" in titles, fault
    rows = [p["title"] for p in BOARDS["kvm-fleet.json"]["panels"] if p["type"] == "row"]
    assert rows == ["Fleet", "Hardware", "Virtualization", "Network", "Storage", "Cluster", "Capacity",
                    "Exporter", "Self-healing"]


def test_grafana_provisioning_points_at_the_dashboards() -> None:
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/kvm-exporter.yml").read_text())
    assert provider["providers"][0]["type"] == "file"
    source = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/kvm-exporter.yml").read_text())
    assert source["datasources"][0]["type"] == "prometheus"


def query(prometheus: str, expr: str) -> dict[str, Any]:
    url = f"{prometheus}/api/v1/query?query={urllib.parse.quote(expr)}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())


VICTORIA_METRICS = shutil.which("victoria-metrics") or "victoria-metrics"


def fill(expr: str, variables: dict[str, str]) -> str:
    for name, value in variables.items():
        expr = expr.replace(f"${name}", value)
    return expr


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (libvirtd)")
def test_every_panel_query_returns_data_from_a_live_prometheus(tmp_path: Path, domains, test_bridge) -> None:  # type: ignore[no-untyped-def]
    # Exporter A: the fixture trees and fake commands; B: this machine with real domains.
    sysfs, procfs, rootfs = tmp_path / "sys", tmp_path / "proc", tmp_path / "rootfs"
    shutil.copytree(FIXTURES / "sysfs" / "sys", sysfs, symlinks=True)
    shutil.copytree(FIXTURES / "procfs", procfs)
    shutil.copytree(FIXTURES / "rootfs", rootfs)
    (tmp_path / "smart").mkdir()
    smart = build_fake_smartctl(tmp_path / "smart", hang=False)
    storage, storage_flags = build_fake_storage(tmp_path)
    env = {**os.environ, "FAKE_SMARTCTL_DIR": str(smart), "FAKE_STORAGE_DIR": str(storage)}
    fixture_flags = [
        f"--path.sysfs={sysfs}",
        f"--path.procfs={procfs}",
        f"--path.rootfs={rootfs}",
        f"--smartctl.path={FAKE_SMARTCTL}",
        "--no-collector.libvirt",
        "--no-collector.storage",
        "--no-collector.config",
        "--no-collector.kernel",
        "--no-collector.qemu",
        "--no-network.ethtool",
        "--probe.target=lo=127.0.0.1",  # loopback only: no auto targets (gateways)
        "--no-probe.auto-targets",
        "--probe.interval=200ms",
        *storage_flags,
    ]
    image = qcow2(domains.tmp_path / "dash.qcow2")
    vm = domains.create(
        "dash", persistent=True, autostart=True, bridge=test_bridge, extra_devices=file_disk(image, "vdb")
    )
    domains.pool("dashpool", domains.tmp_path / "pool")
    domains.network("dashnet")
    definition = vm.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    vm.snapshotCreateXML(
        f"<domainsnapshot><name>s1</name><creationTime>{int(time.time())}</creationTime>"
        f"<state>shutoff</state><memory snapshot='no'/>{definition}</domainsnapshot>",
        libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE,
    )
    try:
        with (
            exporter(*fixture_flags, env=env) as a,
            exporter("--no-collector.smart", "--qemu-img.check-interval=1s") as b,
            remediator(tmp_path, f"--instance={b.url.removeprefix('http://')}") as healer,
        ):
            instances = [a.url.removeprefix("http://"), b.url.removeprefix("http://")]
            # one decision, so the remediator's action series exist (dry-run: the VM runs anyway)
            labels = {"instance": instances[1], "domain": vm.name()}
            healer.post(payload(alert("VmAutostartNotRunning", labels)))
            healer.wait_action()
            vm_port = free_port()
            victoria_metrics = f"http://127.0.0.1:{vm_port}"
            vm_args = victoria_metrics_args(vm_port, tmp_path / "vm")
            victoria = serving([VICTORIA_METRICS, *vm_args], f"{victoria_metrics}/health")
            with victoria, alerting_stack(tmp_path, instances, ALERTS_DIR / "rules",
                                    remediators=[healer.url.removeprefix("http://")],
                                    remote_write=victoria_metrics) as stack:
                time.sleep(12)  # enough 1 s scrapes for every rate over 10 s
                variables = {
                    "__rate_interval": "10s",
                    "job": "kvm-exporter",
                    "instance": "|".join(instances),
                    "domain": vm.name(),
                    "remediator_job": "kvm-remediator",
                }
                faults_only = faults_only_panels()
                empty, errors, nan_only = [], [], set()
                # the same queries from Prometheus and from VictoriaMetrics, which it remote-writes to;
                # VictoriaMetrics leaves NaN out (0/0 of counters that did not move), Prometheus keeps it
                for source, base in (("prometheus", stack.prometheus), ("victoriametrics", victoria_metrics)):
                    for name, board in BOARDS.items():
                        for panel in panels_of(board):
                            where = (name, panel["title"])
                            results = [query(base, fill(t["expr"], variables)) for t in panel["targets"]]
                            errors += [(source, *where, r.get("error"))
                                       for r in results if r["status"] != "success"]
                            values = [sample["value"][1] for r in results
                                      for sample in r.get("data", {}).get("result", [])]
                            if source == "prometheus" and values and all(v == "NaN" for v in values):
                                nan_only.add(where)
                            if not values and (board["uid"], panel["title"]) not in faults_only and not (
                                    source == "victoriametrics" and where in nan_only):
                                empty.append((source, *where))
        assert not errors
        assert not empty
    finally:
        for snapshot in vm.listAllSnapshots(0):
            snapshot.delete(libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY)
