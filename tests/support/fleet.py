"""The fleet kit's shipped files made runnable on loopback: the monitoring playbook's file_sd
output for an inventory, a Prometheus replica's config from prometheus-ha.yml, the Alertmanager
peers' arguments from cluster.env, the VictoriaMetrics servers' arguments from their .env files.
Targets, ports and paths are substituted and time compressed; nothing else changes."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent.parent
DEPLOY = ROOT / "deploy"


def monitoring_files(tmp: Path, hosts: list[str], port: int) -> Path:
    """Run deploy/ansible/monitoring.yml for an inventory of `hosts`: the targets directory."""
    inventory = tmp / "inventory.yml"
    hypervisors = {
        h: {"kvm_site": "lab", "kvm_rack": f"r{n}", "kvm_cluster": "ha"} for n, h in enumerate(hosts)
    }
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "children": {
                        "hypervisors": {"hosts": hypervisors},
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
    out = tmp / "prom-etc"
    extra = {
        "kvm_monitoring_rules_dir": str(out / "rules"),
        "kvm_monitoring_targets_dir": str(out / "targets"),
        "kvm_monitoring_alertmanager_config": str(out / "alertmanager.yml"),
        "kvm_monitoring_exporter_port": port,
    }
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(inventory),
            str(DEPLOY / "ansible" / "monitoring.yml"),
            "--extra-vars",
            json.dumps(extra),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "ANSIBLE_HOME": str(tmp)},
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    return out / "targets"


def replica_config(
    replica: str, rules: Path, targets: Path, alertmanagers: list[str], remote_write: str = ""
) -> dict[str, Any]:
    """deploy/prometheus/prometheus-ha.yml for one replica, scraping and evaluating every second;
    `remote_write` is the base URL of a VictoriaMetrics (none: no remote write)."""
    text = (DEPLOY / "prometheus" / "prometheus-ha.yml").read_text()
    text = text.replace("/etc/prometheus/kvm-exporter/rules/", f"{rules}/")
    text = text.replace("/etc/prometheus/kvm-exporter/targets/", f"{targets}/")
    text = text.replace("http://victoria-metrics.example.org:8428", remote_write or "http://127.0.0.1:9")
    config: dict[str, Any] = yaml.safe_load(text)
    config["global"].update(
        scrape_interval="1s", evaluation_interval="1s", external_labels={"replica": replica}
    )
    config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = alertmanagers
    for job in config["scrape_configs"]:
        job["scrape_timeout"] = "1s"
    if not remote_write:
        del config["remote_write"]
    return config


def shipped_args(path: Path, mapping: dict[str, str]) -> list[str]:
    """The ARGS of a shipped /etc/default file, with `mapping` substituted in each argument."""
    args = shlex.split(path.read_text().split('ARGS="')[1].split('"')[0])
    substituted = []
    for arg in args:
        for shipped, here in mapping.items():
            arg = arg.replace(shipped, here)
        substituted.append(arg)
    return substituted


def peer_args(me: int, ports: list[int]) -> list[str]:
    """deploy/alertmanager/cluster.env's ARGS for peer `me` of the cluster on `ports`."""
    others = [p for n, p in enumerate(ports) if n != me]
    return shipped_args(
        DEPLOY / "alertmanager" / "cluster.env",
        {
            "0.0.0.0:9094": f"127.0.0.1:{ports[me]}",
            "alertmanager-2.example.org:9094": f"127.0.0.1:{others[0]}",
            "alertmanager-3.example.org:9094": f"127.0.0.1:{others[1]}",
        },
    )


def victoria_metrics_args(port: int, data: Path) -> list[str]:
    args = shipped_args(DEPLOY / "victoriametrics" / "victoria-metrics.env", {
        ":8428": f"127.0.0.1:{port}", "/var/lib/victoria-metrics": str(data),
        "-dedup.minScrapeInterval=15s": "-dedup.minScrapeInterval=1s"})
    # VictoriaMetrics hides the newest 30 s of samples from queries (-search.latencyOffset): compressed
    return [*args, "-search.latencyOffset=1s"]


def vmalert_args(port: int, rules: Path, victoria_metrics: str, alertmanager: str) -> list[str]:
    args = shipped_args(
        DEPLOY / "victoriametrics" / "vmalert.env",
        {
            "/etc/prometheus/kvm-exporter/rules/": f"{rules}/",
            "http://victoria-metrics.example.org:8428": victoria_metrics,
            ":8880": f"127.0.0.1:{port}",
            "-evaluationInterval=15s": "-evaluationInterval=1s",
        },
    )
    notifiers = [a for a in args if a.startswith("-notifier.url=")]
    # one Alertmanager here for the three peers of the shipped file
    return [a for a in args if a not in notifiers] + [f"-notifier.url={alertmanager}"]
