"""A real Prometheus and a real Alertmanager on loopback, fed the generated alerting bundle,
and a webhook receiver that records every notification."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from support.scrape import free_port, serving

ROOT = Path(__file__).resolve().parent.parent.parent
AM_EXAMPLE = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager") or "alertmanager"
PROMETHEUS = shutil.which("prometheus") or "prometheus"


@dataclass
class Notification:
    receiver: str
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]


@dataclass
class Webhook:
    url: str
    received: list[Notification] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def matching(self, status: str, alertname: str, **labels: str) -> list[Notification]:
        """The notifications of (status, alertname, labels), oldest first."""
        with self.lock:
            return [
                note
                for note in self.received
                if note.status == status
                and note.labels.get("alertname") == alertname
                and all(note.labels.get(k) == v for k, v in labels.items())
            ]

    def find(self, status: str, alertname: str, **labels: str) -> Notification | None:
        found = self.matching(status, alertname, **labels)
        return found[0] if found else None

    def count(self, status: str, alertname: str, **labels: str) -> int:
        return len(self.matching(status, alertname, **labels))

    def wait(
        self, wanted: list[tuple[str, str, dict[str, str]]], seconds: float
    ) -> list[tuple[str, str, dict[str, str]]]:
        """Wait until every (status, alertname, labels) arrived; return the ones that did not."""
        deadline = time.monotonic() + seconds
        while True:
            missing = [w for w in wanted if self.find(w[0], w[1], **w[2]) is None]
            if not missing or time.monotonic() > deadline:
                return missing
            time.sleep(0.5)


@contextmanager
def webhook() -> Iterator[Webhook]:
    port = free_port()
    hook = Webhook(f"http://127.0.0.1:{port}")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            receiver = self.path.strip("/")
            with hook.lock:
                for alert in body["alerts"]:
                    hook.received.append(
                        Notification(receiver, alert["status"], alert["labels"], alert["annotations"])
                    )
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


def alertmanager_test_config(hook_url: str) -> dict[str, Any]:
    """The shipped example with every receiver pointed at the test webhook (path = receiver
    name) and group timings cut to a second; routes and inhibitions stay as shipped."""
    config = yaml.safe_load(AM_EXAMPLE.read_text())
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = f"{hook_url}/{receiver['name']}"
    config["route"].update(group_wait="1s", group_interval="1s", repeat_interval="1h")
    return config


@dataclass
class Stack:
    prometheus: str
    alertmanager: str
    hook: Webhook


@contextmanager
def alerting_stack(
    tmp: Path,
    targets: list[str],
    rules_dir: Path,
    remediators: list[str] | None = None,
    am_config: Callable[[str], dict[str, Any]] | None = None,
    remote_write: str = "",
) -> Iterator[Stack]:
    """Prometheus scraping `targets` (and kvm-remediators, job kvm-remediator) every second with
    the rules in `rules_dir`, sending to an Alertmanager running the example config (or
    `am_config`), which notifies the webhook."""
    with ExitStack() as stack:
        hook = stack.enter_context(webhook())
        am_port, prom_port = free_port(), free_port()
        config = (am_config or alertmanager_test_config)(hook.url)
        am_config_file = tmp / "alertmanager.yml"
        am_config_file.write_text(yaml.safe_dump(config))
        am_url = f"http://127.0.0.1:{am_port}"
        stack.enter_context(
            serving(
                [
                    ALERTMANAGER,
                    f"--config.file={am_config_file}",
                    f"--storage.path={tmp / 'am-data'}",
                    f"--web.listen-address=127.0.0.1:{am_port}",
                    "--cluster.listen-address=",
                ],
                f"{am_url}/-/ready",
            )
        )
        prom_config = tmp / "prometheus.yml"
        prom_config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(p) for p in sorted(rules_dir.glob("*.yml"))],
                    "alerting": {
                        "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]
                    },
                    "scrape_configs": [
                        {
                            "job_name": "kvm-exporter",
                            "scrape_timeout": "1s",
                            "static_configs": [{"targets": targets}],
                        },
                        *(
                            [
                                {
                                    "job_name": "kvm-remediator",
                                    "scrape_timeout": "1s",
                                    "static_configs": [{"targets": remediators}],
                                }
                            ]
                            if remediators
                            else []
                        ),
                    ],
                    **({"remote_write": [{"url": f"{remote_write}/api/v1/write"}]} if remote_write else {}),
                }
            )
        )
        prom_url = f"http://127.0.0.1:{prom_port}"
        stack.enter_context(
            serving(
                [
                    PROMETHEUS,
                    f"--config.file={prom_config}",
                    f"--storage.tsdb.path={tmp / 'prom-data'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                    "--rules.alert.resend-delay=1s",
                ],
                f"{prom_url}/-/ready",
            )
        )
        yield Stack(prom_url, am_url, hook)


def generate_rules(out: Path, factor: int, config: dict[str, Any] | None = None) -> Path:
    """The bundle's rules with time compressed by `factor` and `config` overrides."""
    command = [
        sys.executable,
        str(ROOT / "alerts" / "generate.py"),
        f"--out={out}",
        f"--compress-time={factor}",
    ]
    if config:
        override = out.parent / "alerts-config.yml"
        override.write_text(yaml.safe_dump(config))
        command.append(f"--config={override}")
    subprocess.run(command, check=True, capture_output=True)
    return out / "rules"
