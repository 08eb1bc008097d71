"""Long-term storage as shipped: both Prometheus replicas (prometheus-ha.yml) remote-write to
VictoriaMetrics (victoria-metrics.env), which stores each series once; vmalert (vmalert.env)
evaluates the shipped rules against VictoriaMetrics and fires the same alert as Prometheus
for the same injected fault. Targets, ports and paths substituted, time compressed 60x.

Faults: exporter_health.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import urllib.parse
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.alerting_stack import ALERTMANAGER, PROMETHEUS, alertmanager_test_config, generate_rules, webhook
from support.fleet import monitoring_files, replica_config, victoria_metrics_args, vmalert_args
from support.scrape import free_port, serving
from support.waiting import until

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.geteuid() != 0, reason="needs root (ansible-playbook)")]

VICTORIA_METRICS = shutil.which("victoria-metrics") or "victoria-metrics"
VMALERT = shutil.which("vmalert") or "vmalert"
HOSTS = ["127.0.0.21", "127.0.0.22"]


def query(base: str, expr: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?query={urllib.parse.quote(expr)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        result: list[dict[str, Any]] = json.loads(response.read())["data"]["result"]
    return result


def firing(base: str, path: str, alertname: str, instance: str) -> bool:
    with urllib.request.urlopen(f"{base}{path}", timeout=10) as response:
        alerts = json.loads(response.read())["data"]["alerts"]
    return any(
        a["labels"].get("alertname") == alertname
        and a["labels"].get("instance") == instance
        and a["state"] == "firing"
        for a in alerts
    )


def test_replicas_write_each_series_once_and_vmalert_fires_the_same_alerts(tmp_path: Path) -> None:
    port = free_port()
    rules = generate_rules(tmp_path / "bundle", 60)
    targets = monitoring_files(tmp_path, HOSTS, port)
    with ExitStack() as stack:
        hook = stack.enter_context(webhook())
        exporters = {
            host: stack.enter_context(
                serving(
                    [
                        sys.executable,
                        "-m",
                        "exporter",
                        f"--web.listen-address={host}:{port}",
                        "--collector.disable-defaults",
                        "--collector.host",
                        "--collector.process",
                    ],
                    f"http://{host}:{port}/-/ready",
                )
            )
            for host in HOSTS
        }
        vm_port, vmalert_port, am_port = free_port(), free_port(), free_port()
        victoria_metrics = f"http://127.0.0.1:{vm_port}"
        stack.enter_context(
            serving(
                [VICTORIA_METRICS, *victoria_metrics_args(vm_port, tmp_path / "vm")],
                f"{victoria_metrics}/health",
            )
        )
        am_config = tmp_path / "alertmanager.yml"
        am_config.write_text(yaml.safe_dump(alertmanager_test_config(hook.url)))
        alertmanager = f"http://127.0.0.1:{am_port}"
        stack.enter_context(
            serving(
                [
                    ALERTMANAGER,
                    f"--config.file={am_config}",
                    f"--storage.path={tmp_path / 'am'}",
                    f"--web.listen-address=127.0.0.1:{am_port}",
                    "--cluster.listen-address=",
                ],
                f"{alertmanager}/-/ready",
            )
        )
        prometheus = []
        for n in (1, 2):
            config = tmp_path / f"prometheus-{n}.yml"
            config.write_text(
                yaml.safe_dump(
                    replica_config(
                        f"prometheus-{n}",
                        rules,
                        targets,
                        [f"127.0.0.1:{am_port}"],
                        remote_write=victoria_metrics,
                    )
                )
            )
            prom_port = free_port()
            prometheus.append(f"http://127.0.0.1:{prom_port}")
            stack.enter_context(
                serving(
                    [
                        PROMETHEUS,
                        f"--config.file={config}",
                        f"--storage.tsdb.path={tmp_path / f'p{n}'}",
                        f"--web.listen-address=127.0.0.1:{prom_port}",
                    ],
                    f"{prometheus[-1]}/-/ready",
                )
            )
        vmalert = f"http://127.0.0.1:{vmalert_port}"
        stack.enter_context(
            serving(
                [VMALERT, *vmalert_args(vmalert_port, rules, victoria_metrics, alertmanager)],
                f"{vmalert}/health",
            )
        )

        until(
            "both exporters in VictoriaMetrics",
            lambda: len(query(victoria_metrics, "kvm_exporter_build_info")) == 2,
        )
        time.sleep(5)
        stored = query(victoria_metrics, 'count({__name__=~"kvm_.+", job="kvm-exporter"})')
        scraped = query(prometheus[0], 'count({__name__=~"kvm_.+", job="kvm-exporter"})')
        assert stored and scraped and stored[0]["value"][1] == scraped[0]["value"][1]  # once, not twice
        assert query(victoria_metrics, 'count({replica!=""})') == []
        # one sample per second per series, though two replicas write it
        samples = query(
            victoria_metrics, f'count_over_time(kvm_exporter_build_info{{instance="{HOSTS[0]}:{port}"}}[10s])'
        )
        assert 8 <= float(samples[0]["value"][1]) <= 12, samples
        assert query(victoria_metrics, "instance:kvm_host_cpu_busy:ratio_rate5m")  # vmalert's recording rules

        exporters[HOSTS[1]].terminate()
        down = f"{HOSTS[1]}:{port}"
        until(
            "KvmExporterDown in Prometheus",
            lambda: firing(prometheus[0], "/api/v1/alerts", "KvmExporterDown", down),
        )
        until(
            "KvmExporterDown in vmalert", lambda: firing(vmalert, "/api/v1/alerts", "KvmExporterDown", down)
        )
        assert not hook.wait(
            [("firing", "KvmExporterDown", {"instance": down, "fault": "exporter_health"})], 60
        )
        exporters[HOSTS[1]] = stack.enter_context(
            serving(
                [
                    sys.executable,
                    "-m",
                    "exporter",
                    f"--web.listen-address={down}",
                    "--collector.disable-defaults",
                    "--collector.host",
                    "--collector.process",
                ],
                f"http://{down}/-/ready",
            )
        )
        until(
            "KvmExporterDown resolved in vmalert",
            lambda: not firing(vmalert, "/api/v1/alerts", "KvmExporterDown", down),
            60,
        )
