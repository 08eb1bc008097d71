"""The shipped Zabbix template on a real Zabbix 6.0 server (tests/support/zabbix.py: its own
PostgreSQL, zabbix_server, the PHP frontend behind php-fpm and nginx for the API).

The template, generated with windows compressed 60x as the Prometheus end-to-end test does,
is imported through `configuration.import`; two hosts point at two real kvm-exporters: one
reads the real libvirtd, the fake smartctl and the fake zpool, the other a network namespace
with a bridge. All faults are injected at once: a domain's QEMU killed, the bridge's uplink
down, a failing SMART disk, a degraded pool. Their triggers go to PROBLEM with the bundle's
severity and tags and back to OK once the faults are removed. The network host's exporter is
stopped while its fault lasts: exporter-down fires, and with dependent triggers skipped it is
the host's only problem; started again with the uplink up, both resolve.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.bundle import ALERTS
from support.domstats_fixtures import FIXTURES
from support.netns import Netns
from support.scrape import exporter, free_port, only, serving
from support.smart_fakes import FAKE as FAKE_SMARTCTL
from support.smart_fakes import build_fake_smartctl
from support.storage_fakes import build_fake_storage
from support.waiting import until
from support.zabbix import Api, Zabbix, zabbix_stack

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="needs root (PostgreSQL, netns, libvirtd)"),
              pytest.mark.skipif(shutil.which("zabbix_server") is None, reason="zabbix-server-pgsql missing"),
              pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = "KVM by kvm-exporter"
SEVERITY = {"critical": "4", "warning": "2", "info": "1"}  # High, Warning, Information
BY_NAME = {alert.name: alert for alert in ALERTS}


def create_host(api: Api, name: str, port: int) -> str:
    template = api.call("template.get", {"output": ["templateid"], "filter": {"host": [TEMPLATE]}})[0]
    group = api.call("hostgroup.get", {"output": ["groupid"], "filter": {"name": ["Linux servers"]}})[0]
    macros = {"{$KVM.EXPORTER.PORT}": str(port), "{$KVM.EXPORTER.INTERVAL}": "2s",
              "{$KVM.EXPORTER.NODATA.TIMEOUT}": "30s"}
    created = api.call("host.create", {
        "host": name, "groups": [group], "templates": [{"templateid": template["templateid"]}],
        "interfaces": [{"type": 1, "main": 1, "useip": 1, "ip": "127.0.0.1", "dns": "", "port": "10050"}],
        "macros": [{"macro": macro, "value": value} for macro, value in macros.items()]})
    return str(created["hostids"][0])


Problems = dict[tuple[str, str], dict[str, Any]]


def problems(api: Api, host: str, *, skip_dependent: bool = False) -> Problems:
    """The host's triggers in PROBLEM, by (alertname tag, name with its macros expanded)."""
    query = {"hostids": [host], "filter": {"value": 1}, "output": ["priority", "description"],
             "selectTags": "extend", "expandDescription": True, "monitored": True}
    if skip_dependent:  # a flag: given at all, even as false, it is on
        query["skipDependent"] = True
    found = api.call("trigger.get", query)
    return {(tag["value"], trigger["description"]): trigger
            for trigger in found for tag in trigger["tags"] if tag["tag"] == "alertname"}


def alertnames(found: Problems) -> set[str]:
    return {name for name, _ in found}


def matching(found: Problems, alertname: str, entity: str) -> dict[str, Any] | None:
    """The problem of `alertname` whose trigger names `entity` (a VM, disk, pool or bridge)."""
    return next((t for (name, text), t in found.items() if name == alertname and f" {entity})" in text), None)


def last_value(api: Api, host: str, key: str) -> str | None:
    found = api.call("item.get", {"hostids": [host], "filter": {"key_": key}, "output": ["lastvalue"]})
    return str(found[0]["lastvalue"]) if found else None


def item_keys(api: Api, host: str) -> dict[str, str]:
    items = api.call("item.get", {"hostids": [host], "output": ["key_", "lastclock"]})
    return {item["key_"]: item["lastclock"] for item in items}


def unknown_triggers(api: Api, hosts: list[str]) -> list[dict[str, str]]:
    found = api.call("trigger.get", {"hostids": hosts, "output": ["description", "error"],
                                     "filter": {"state": 1}, "expandDescription": True, "monitored": True})
    return [{"trigger": t["description"], "error": t["error"]} for t in found]


def discovery_state(api: Api, host: str, keys: list[str]) -> str:
    """What Zabbix says of the host's discovery rules and of the items a test waits for."""
    rules = api.call("discoveryrule.get", {"hostids": [host], "output": ["key_", "state", "error"]})
    items = api.call("item.get", {"hostids": [host], "output": ["key_", "lastclock", "state", "error"],
                                  "filter": {"key_": keys}})
    return json.dumps({"rules": [r for r in rules if r["error"]], "items": items}, indent=1)


class NetworkLab:
    """A namespace with a bridge whose one uplink is a veth, and an exporter over it that the
    test stops and starts again on the same port."""

    def __init__(self, stack: ExitStack) -> None:
        self.stack = stack
        self.ns = Netns("zbx")
        stack.callback(self.ns.close)
        self.ns.ip("link", "add", "kvmxtzbr", "type", "bridge")
        self.ns.ip("link", "add", "kvmxtzup", "type", "veth", "peer", "name", "kvmxtzpeer")
        self.ns.ip("link", "set", "kvmxtzup", "master", "kvmxtzbr")
        for link in ("kvmxtzbr", "kvmxtzup", "kvmxtzpeer"):
            self.ns.ip("link", "set", link, "up")
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def uplink(self, state: str) -> None:
        self.ns.ip("link", "set", "kvmxtzpeer", state)

    def start(self) -> None:
        command = [sys.executable, "-m", "exporter", *only("network"), "--no-network.ethtool",
                   f"--path.sysfs={self.ns.sysfs}", f"--path.procfs={self.ns.procfs}",
                   f"--web.listen-address=127.0.0.1:{self.port}"]
        self.process = self.stack.enter_context(serving(command, f"http://127.0.0.1:{self.port}/-/ready"))

    def stop(self) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def zabbix() -> Iterator[Zabbix]:
    with zabbix_stack() as stack:
        yield stack


def test_faults_reach_zabbix_and_resolve(zabbix: Zabbix, domains, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    api = zabbix.api
    # the shipped file as it is: the server takes every item, rule, trigger and value map
    shipped = (REPO / "deploy" / "zabbix" / "kvm-exporter.zabbix.yaml").read_text()
    zabbix.import_template(shipped)
    export = yaml.safe_load(shipped)["zabbix_export"]
    rules = next(t for t in export["templates"] if t["template"] == TEMPLATE)["discovery_rules"]
    triggers = [t for t in export["triggers"] if f"/{TEMPLATE}/" in t["expression"]]
    imported = api.call("template.get", {"output": ["host"], "selectTriggers": "count",
                                         "selectDiscoveries": "count", "filter": {"host": [TEMPLATE]}})[0]
    assert (int(imported["triggers"]), int(imported["discoveries"])) == (len(triggers), len(rules))
    # then the same generated with its windows compressed 60x, updating it in place
    generator = REPO / "deploy" / "zabbix" / "generate.py"
    source = subprocess.run([sys.executable, str(generator), "--compress-time", "60", "--out", "/dev/stdout"],
                            check=True, capture_output=True, text=True).stdout
    zabbix.import_template(source)

    crash = domains.create("zbxcrash", persistent=True)
    (tmp_path / "smart").mkdir()
    smart = build_fake_smartctl(tmp_path / "smart", hang=False)
    storage, storage_flags = build_fake_storage(tmp_path)
    procfs = tmp_path / "proc"  # ZFS's kstats, where the zfs collector sees the module loaded
    shutil.copytree(FIXTURES / "procfs", procfs)
    env = {**os.environ, "FAKE_SMARTCTL_DIR": str(smart), "FAKE_STORAGE_DIR": str(storage)}
    with ExitStack() as stack:
        hv = stack.enter_context(exporter(*only("libvirt")))
        disks = stack.enter_context(exporter(
            *only("smart", "zfs"), f"--path.procfs={procfs}", f"--smartctl.path={FAKE_SMARTCTL}",
            "--smartctl.interval=1s", "--zfs.interval=1s", *storage_flags, env=env))
        net = NetworkLab(stack)
        net.start()
        hv_host, disk_host = (create_host(api, name, int(running.url.rsplit(":", 1)[1]))
                                        for name, running in (("kvmxt-hv", hv), ("kvmxt-disks", disks)))
        net_host = create_host(api, "kvmxt-net", net.port)

        # discovery made items for the real domain, the fixture disks and pools, the bridge
        wanted = {hv_host: [f'kvm.domain.state["{crash.name()}"]'],
                  disk_host: ['kvm.smart.health["/dev/sdb"]', 'kvm.zpool.state["zpool-hdd"]'],
                  net_host: ['kvm.bridge.uplink_up["kvmxtzbr"]']}
        for host, keys in wanted.items():
            try:
                until(f"discovered items with values: {keys}", lambda h=host, k=keys: all(
                    item_keys(api, h).get(key, "0") != "0" for key in k), 180)
            except AssertionError as error:
                raise AssertionError(f"{error}\n{discovery_state(api, host, keys)}") from None
        faults = [(hv_host, "VmCrashed", crash.name()), (disk_host, "SmartDeviceFailing", "/dev/sdb"),
                  (disk_host, "ZfsPoolNotOnline", "zpool-hdd"), (net_host, "BridgeUplinkDown", "kvmxtzbr")]
        for host, name, entity in faults:
            assert matching(problems(api, host), name, entity) is None, f"{name} of {entity} before the fault"

        pid = int(Path(f"/run/libvirt/qemu/{crash.name()}.pid").read_text())
        status = storage / "zpool" / "status.json"
        pools = status.read_text()
        degraded = json.loads(pools)
        degraded["pools"]["zpool-hdd"]["state"] = "DEGRADED"
        healthy_disk = (smart / "devices" / "sdb.json").read_text()
        os.kill(pid, signal.SIGKILL)
        net.uplink("down")
        shutil.copy(FIXTURES / "smartctl" / "scrutiny" / "smart-fail2.json", smart / "devices" / "sdb.json")
        status.write_text(json.dumps(degraded))

        for host, name, entity in faults:
            problem = until(f"{name} of {entity} in PROBLEM",
                            lambda h=host, n=name, e=entity: matching(problems(api, h), n, e), 180)
            alert = BY_NAME[name]
            tags = {tag["tag"]: tag["value"] for tag in problem["tags"]}
            assert tags == {"alertname": name, "fault": alert.fault, "layer": alert.layer}
            assert problem["priority"] == SEVERITY[alert.severity]

        # the state and reason as one code, which the value map names ("shutoff: crashed")
        key = f'kvm.domain.state_reason["{crash.name()}"]'
        until("the crashed domain's state-and-reason code", lambda: last_value(api, hv_host, key) == "503",
              60)

        # the network host's exporter goes away while its fault lasts; the other faults are removed
        net.stop()
        stopped = time.monotonic()
        crash.create()
        (smart / "devices" / "sdb.json").write_text(healthy_disk)
        status.write_text(pools)
        for host, name, entity in faults[:3]:
            until(f"{name} of {entity} back to OK",
                  lambda h=host, n=name, e=entity: matching(problems(api, h), n, e) is None, 180)
        until("KvmExporterDown in PROBLEM",
              lambda: "KvmExporterDown" in alertnames(problems(api, net_host)), 180)
        assert time.monotonic() - stopped >= 25, "exporter-down fired before its 30 s of no data"
        # its problems stay as they were, but depend on exporter-down: skipping those, it is alone
        assert alertnames(problems(api, net_host)) == {"KvmExporterDown", "BridgeUplinkDown"}
        assert alertnames(problems(api, net_host, skip_dependent=True)) == {"KvmExporterDown"}
        for host in (hv_host, disk_host):
            assert "KvmExporterDown" not in alertnames(problems(api, host))

        net.uplink("up")
        net.start()
        until("exporter-down and the bridge's problem resolved", lambda: not {
            "KvmExporterDown", "BridgeUplinkDown"} & alertnames(problems(api, net_host)), 180)

        # every trigger evaluates on the real data: none is left UNKNOWN (an error, or no data)
        hosts = [hv_host, disk_host, net_host]
        try:
            until("no trigger UNKNOWN", lambda: not unknown_triggers(api, hosts), 60)
        except AssertionError as error:
            raise AssertionError(f"{error}: {json.dumps(unknown_triggers(api, hosts), indent=1)}") from None
