"""The HA setup as shipped: two Prometheus replicas (deploy/prometheus/prometheus-ha.yml,
targets from the file_sd files the monitoring playbook writes from an inventory) sending to
a three-peer Alertmanager cluster (deploy/alertmanager/cluster.env, the shipped routing).
Targets, ports and paths are substituted and time is compressed 60x, nothing else.

- an exporter stopped -> exactly one notification, though two replicas fire it to three peers;
- one replica and one peer killed -> the next fault is still notified exactly once;
- a silence created on one peer holds on the others.

Faults: exporter_health.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.alerting_stack import ALERTMANAGER, PROMETHEUS, alertmanager_test_config, generate_rules, webhook
from support.domstats_fixtures import FIXTURES
from support.fleet import monitoring_files, peer_args, replica_config
from support.scrape import free_port, serving

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.geteuid() != 0, reason="needs root (ansible-playbook)")]

HOSTS = ("127.0.0.11", "127.0.0.12", "127.0.0.13")  # three hypervisors, one port, on loopback


def api(url: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"}, method="POST" if data else "GET"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_two_replicas_and_three_peers_notify_once_and_survive_losing_one_each(tmp_path: Path) -> None:
    port = free_port()
    rules = generate_rules(tmp_path / "bundle", 60)
    targets = monitoring_files(tmp_path, list(HOSTS), port)
    sysfs = tmp_path / "sys"
    shutil.copytree(FIXTURES / "sysfs" / "sys", sysfs, symlinks=True)
    flags = {  # fixture trees, the libvirt test driver, this host
        HOSTS[0]: [
            "--collector.disable-defaults",
            "--collector.thermal",
            "--collector.edac",
            f"--path.sysfs={sysfs}",
        ],
        HOSTS[1]: ["--collector.disable-defaults", "--collector.libvirt", "--libvirt.uri=test:///default"],
        HOSTS[2]: ["--collector.disable-defaults", "--collector.host", "--collector.process"],
    }
    with ExitStack() as stack:
        hook = stack.enter_context(webhook())
        exporters = {
            host: stack.enter_context(
                serving(
                    [sys.executable, "-m", "exporter", f"--web.listen-address={host}:{port}", *flags[host]],
                    f"http://{host}:{port}/-/ready",
                )
            )
            for host in HOSTS
        }
        gossip, web = [free_port() for _ in range(3)], [free_port() for _ in range(3)]
        am_config = tmp_path / "alertmanager.yml"
        am_config.write_text(yaml.safe_dump(alertmanager_test_config(hook.url)))
        peers = [
            stack.enter_context(
                serving(
                    [
                        ALERTMANAGER,
                        f"--config.file={am_config}",
                        f"--storage.path={tmp_path / f'am{n}'}",
                        f"--web.listen-address=127.0.0.1:{web[n]}",
                        *peer_args(n, gossip),
                        "--cluster.peer-timeout=2s",
                    ],
                    f"http://127.0.0.1:{web[n]}/-/ready",
                )
            )
            for n in range(3)
        ]
        replicas = []
        for n in (1, 2):
            config = tmp_path / f"prometheus-{n}.yml"
            config.write_text(
                yaml.safe_dump(
                    replica_config(f"prometheus-{n}", rules, targets, [f"127.0.0.1:{p}" for p in web])
                )
            )
            prom_port = free_port()
            replicas.append(
                stack.enter_context(
                    serving(
                        [
                            PROMETHEUS,
                            f"--config.file={config}",
                            f"--storage.tsdb.path={tmp_path / f'prom{n}'}",
                            f"--web.listen-address=127.0.0.1:{prom_port}",
                            "--rules.alert.resend-delay=1s",
                        ],
                        f"http://127.0.0.1:{prom_port}/-/ready",
                    )
                )
            )
        members = api(f"http://127.0.0.1:{web[0]}/api/v2/status")["cluster"]["peers"]
        assert len(members) == 3, members
        time.sleep(10)  # every replica has scraped every target

        exporters[HOSTS[2]].terminate()
        down = f"{HOSTS[2]}:{port}"
        assert not hook.wait([("firing", "KvmExporterDown", {"instance": down})], 60)
        time.sleep(8)  # long enough for a second peer or replica to have sent its copy
        assert hook.count("firing", "KvmExporterDown", instance=down) == 1

        replicas[0].terminate()
        peers[0].terminate()
        exporters[HOSTS[1]].terminate()
        down = f"{HOSTS[1]}:{port}"
        assert not hook.wait([("firing", "KvmExporterDown", {"instance": down})], 60)
        time.sleep(8)
        assert hook.count("firing", "KvmExporterDown", instance=down) == 1

        silenced = f"{HOSTS[0]}:{port}"
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
        created = api(
            f"http://127.0.0.1:{web[1]}/api/v2/silences",
            {
                "matchers": [{"name": "instance", "value": silenced, "isRegex": False, "isEqual": True}],
                "startsAt": now,
                "endsAt": later,
                "createdBy": "test",
                "comment": "maintenance",
            },
        )
        deadline = time.monotonic() + 30
        while not any(
            s["id"] == created["silenceID"] for s in api(f"http://127.0.0.1:{web[2]}/api/v2/silences")
        ):
            assert time.monotonic() < deadline, "the silence never reached the third peer"
            time.sleep(0.3)
        exporters[HOSTS[0]].terminate()
        deadline = time.monotonic() + 60
        prometheus = replicas[1].args[-2].split("=", 1)[1]  # --web.listen-address of the survivor
        while True:
            alerts = api(f"http://{prometheus}/api/v1/alerts")["data"]["alerts"]
            if any(
                a["labels"]["alertname"] == "KvmExporterDown"
                and a["labels"]["instance"] == silenced
                and a["state"] == "firing"
                for a in alerts
            ):
                break
            assert time.monotonic() < deadline, "the silenced fault never fired in Prometheus"
            time.sleep(0.5)
        time.sleep(8)
        assert hook.count("firing", "KvmExporterDown", instance=silenced) == 0
