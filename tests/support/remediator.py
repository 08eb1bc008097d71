"""kvm-remediator for tests: the real program started with the shipped config (its limits
compressed like the rules' time), notifications as Alertmanager sends them, and the audit
log and metrics read back."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from support.scrape import Samples, free_port, parse_samples

ROOT = Path(__file__).resolve().parent.parent.parent
SHIPPED_CONFIG = ROOT / "deploy" / "remediator" / "config.yml"
DURATION_LIMITS = ("action_timeout", "cooldown", "breaker_open_for")


def compressed_config(out: Path, factor: int = 60, **limits: Any) -> Path:
    """The shipped playbooks as they are; the limits' durations divided by `factor` (the
    rules' time compression), `limits` overriding."""
    config = yaml.safe_load(SHIPPED_CONFIG.read_text())
    for key in DURATION_LIMITS:
        seconds = {"m": 60, "h": 3600, "s": 1}[config["limits"][key][-1]] * int(config["limits"][key][:-1])
        config["limits"][key] = f"{max(1, seconds // factor)}s"
    config["limits"].update(limits)
    out.write_text(yaml.safe_dump(config))
    # relative playbook paths resolve against the config file's directory, as shipped
    (out.parent / "ansible").mkdir(exist_ok=True)
    for playbook in (SHIPPED_CONFIG.parent / "ansible").glob("*.yml"):
        (out.parent / "ansible" / playbook.name).write_text(playbook.read_text())
    return out


def alert(name: str, labels: dict[str, str], status: str = "firing", starts_at: str = "",
          ends_at: str = "") -> dict[str, Any]:
    """One alert of a version 4 webhook payload, with Alertmanager's fingerprint of its labels."""
    labels = {"alertname": name, **labels}
    fingerprint = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime())
    return {"status": status, "labels": labels, "annotations": {}, "startsAt": starts_at or now,
            "endsAt": ends_at or "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": fingerprint}


def payload(*alerts: dict[str, Any]) -> bytes:
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return json.dumps({"version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": status,
                       "receiver": "remediator", "groupLabels": {}, "commonLabels": {},
                       "commonAnnotations": {}, "externalURL": "http://am", "alerts": list(alerts)}).encode()


@dataclass
class Remediator:
    url: str
    audit: Path
    log: Path
    process: subprocess.Popen[bytes]

    def post(self, body: bytes, user: str = "", password: str = "", context: Any = None) -> int:
        headers = {"Content-Type": "application/json"}
        if user:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        request = urllib.request.Request(f"{self.url}/alerts", data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30, context=context) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    def records(self, event: str | None = None) -> list[dict[str, Any]]:
        lines = self.audit.read_text().splitlines() if self.audit.exists() else []
        found = [json.loads(line) for line in lines]
        return [r for r in found if event is None or r["event"] == event]

    def actions(self, **match: Any) -> list[dict[str, Any]]:
        return [r for r in self.records("action") if all(r.get(k) == v for k, v in match.items())]

    def wait_action(self, seconds: float = 30, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while True:
            found = self.actions(**match)
            if found:
                return found[-1]
            assert time.monotonic() < deadline, f"no action {match}; audit: {self.records()[-5:]}"
            time.sleep(0.1)

    def metrics(self, user: str = "", password: str = "") -> Samples:
        request = urllib.request.Request(f"{self.url}/metrics")
        if user:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(request, timeout=10) as response:
            return parse_samples(response.read().decode())


@contextmanager
def remediator(tmp: Path, *flags: str, config: Path | None = None, name: str = "remediator",
               ready: bool = True) -> Iterator[Remediator]:
    port = free_port()
    audit, log = tmp / f"{name}-audit.jsonl", tmp / f"{name}.log"
    if config is None:
        (tmp / f"{name}-config").mkdir(exist_ok=True)
        config = compressed_config(tmp / f"{name}-config" / "config.yml")
    command = [sys.executable, "-m", "exporter.remediator", f"--web.listen-address=127.0.0.1:{port}",
               f"--config.file={config}", f"--audit.file={audit}", *flags]
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
    url = f"http://127.0.0.1:{port}"
    try:
        if ready:
            _wait_ready(url, process, log)
        yield Remediator(url, audit, log, process)
    finally:
        process.terminate()
        process.wait(10)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/-/ready", timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # answering (401 behind basic auth): up
        except OSError:
            if process.poll() is not None:
                raise AssertionError(f"kvm-remediator exited: {log.read_text()}") from None
            assert time.monotonic() < deadline, "kvm-remediator did not answer"
            time.sleep(0.1)
