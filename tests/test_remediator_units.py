"""kvm-remediator's pure parts: the playbooks file, label validation, the webhook payload,
the brakes, and the parsers its actions read live state with."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.bundle import ALERTS
from support.remediator import SHIPPED_CONFIG, alert, payload

from exporter.collectors.network.netlink import NetlinkLink
from exporter.remediator.actions.iscsi import parse_sessions
from exporter.remediator.actions.links import IFF_UP, down_links
from exporter.remediator.actions.programs import parse_recap
from exporter.remediator.actions.virt import Disk, cause_gone, parse_disks
from exporter.remediator.cli import build_parser
from exporter.remediator.config import ConfigError, load_config, parse_config, parse_matcher
from exporter.remediator.engine import host_of
from exporter.remediator.labels import LabelError, validated
from exporter.remediator.safety import Bounded, CircuitBreakers, Cooldowns, RateWindow
from exporter.remediator.webhook import PayloadError, parse_payload


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_shipped_config_loads_and_names_only_the_bundles_alerts() -> None:
    config = load_config(str(SHIPPED_CONFIG))
    names = {a.name for a in ALERTS}
    for playbook in config.playbooks:
        matcher = next(m for m in playbook.matchers if m.name == "alertname")
        covered = [n for n in names if matcher.matches({"alertname": n})]
        assert covered, f"{playbook.name} matches no alert of the bundle"
    chosen = {n: getattr(config.playbook_for({"alertname": n}), "action", None) for n in names}
    assert chosen["VmCrashed"] == chosen["VmAutostartNotRunning"] == "start_domain"
    assert chosen["VmPausedOnIoError"] == "resume_domain"
    assert chosen["BridgeUplinkDown"] == chosen["BondDown"] == "link_up"
    assert chosen["IscsiExpectedSessionMissing"] == "iscsi_login"
    assert chosen["VmCrashLoop"] is None and chosen["HostOomKills"] is None  # for humans
    assert config.playbook_for({"alertname": "VmCrashed"}).recovered == "action"  # type: ignore[union-attr]


def test_every_problem_of_a_bad_config_is_named_at_once(tmp_path: Path) -> None:
    bad = {
        "limits": {"cooldown": "ten minutes", "concurrency": 0, "retries": 3},
        "playbooks": [
            {"name": "a", "matchers": ['alertname="VmCrashed"'], "action": "force_off"},
            {"name": "b", "matchers": ['severity="critical"'], "action": "start_domain"},
            {
                "name": "c",
                "matchers": ['alertname="X"'],
                "action": "exec",
                "command": ["rm", "-rf", "{domain}"],
            },
            {
                "name": "d",
                "matchers": ['alertname="X"'],
                "action": "exec",
                "command": ["/bin/echo", "{domain.__class__}"],
            },
            {
                "name": "e",
                "matchers": ['alertname="X"'],
                "action": "exec",
                "command": ["/bin/echo", "{summary}"],
            },
            {"name": "f", "matchers": ['alertname=~"("'], "action": "link_up"},
        ],
    }
    with pytest.raises(ConfigError) as raised:
        parse_config(bad)
    text = "\n".join(raised.value.problems)
    for expected in (
        "limits.cooldown",
        "limits.concurrency",
        "unknown key 'retries'",
        "'force_off'",
        "needs an alertname",
        "must be an absolute path",
        "plain {label}",
        "'summary' has no validation",
        "bad regular expression",
        "link_label must be one of",
    ):
        assert expected in text, (expected, text)
    config = tmp_path / "bad.yml"
    config.write_text(json.dumps(bad))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "exporter.remediator",
            f"--config.file={config}",
            f"--audit.file={tmp_path}/a.jsonl",
            "--net.namespace=/nonexistent",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == len(raised.value.problems) + 1
    assert all(line.startswith("kvm-remediator: error: ") for line in lines)
    assert "--net.namespace" in lines[-1]


@pytest.mark.parametrize(
    ("text", "labels", "matches"),
    [
        ('alertname="VmCrashed"', {"alertname": "VmCrashed"}, True),
        ('alertname!="VmCrashed"', {"alertname": "VmCrashed"}, False),
        ('alertname=~"Bond.*"', {"alertname": "BondDown"}, True),
        ('alertname=~"Bond"', {"alertname": "BondDown"}, False),  # anchored, as Alertmanager's
        ('severity!~"info|none"', {"severity": "critical"}, True),
        ('domain=""', {}, True),  # a missing label is the empty string
        ('domain="a\\"b"', {"domain": 'a"b'}, True),
    ],
)
def test_matchers_are_alertmanagers(text: str, labels: dict[str, str], matches: bool) -> None:
    assert parse_matcher(text).matches(labels) is matches


@pytest.mark.parametrize(
    "value",
    [
        "../../etc/passwd",
        "; rm -rf /",
        "a\nb",
        "-rf",
        ".",
        "..",
        "x" * 10_000,
        "web 1",
        "web/1",
        "$(reboot)",
        "",
        "\u202eweb",
    ],
)
def test_hostile_label_values_are_refused(value: str) -> None:
    with pytest.raises(LabelError) as raised:
        validated({"domain": value}, ("domain",))
    assert len(str(raised.value)) < 400  # a 10 kB value is cut in the message


def test_valid_label_values_pass() -> None:
    good = {
        "domain": "web-1.prod_a",
        "bridge": "br0.100",
        "target": "iqn.2017-10.com.example:vms",
        "portal": "192.0.2.7:3260,1",
        "iface": "default",
        "instance": "hv1.example.com:9978",
    }
    assert validated(good, tuple(good)) == good
    with pytest.raises(LabelError, match="bridge"):
        validated({"bridge": "a-name-that-is-too-long"}, ("bridge",))  # IFNAMSIZ
    with pytest.raises(LabelError, match="missing"):
        validated({}, ("domain",))


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"not json", "not JSON"),
        (b"[]", "not a JSON object"),
        (json.dumps({"version": "3", "alerts": []}).encode(), "version"),
        (json.dumps({"version": "4", "alerts": {}}).encode(), "must be a list"),
        (
            json.dumps(
                {
                    "version": "4",
                    "alerts": [
                        {"status": "firing", "labels": {}, "startsAt": "yesterday", "fingerprint": "f"}
                    ],
                }
            ).encode(),
            "RFC 3339",
        ),
        (
            json.dumps(
                {
                    "version": "4",
                    "alerts": [
                        {
                            "status": "firing",
                            "labels": {"a": 1},
                            "startsAt": "2026-12-01T00:00:00Z",
                            "fingerprint": "f",
                        }
                    ],
                }
            ).encode(),
            "strings",
        ),
        (
            json.dumps(
                {
                    "version": "4",
                    "alerts": [{"status": "firing", "labels": {}, "startsAt": "2026-12-01T00:00:00Z"}],
                }
            ).encode(),
            "fingerprint",
        ),
        (
            json.dumps(
                {
                    "version": "4",
                    "alerts": [
                        {
                            "status": "pending",
                            "labels": {},
                            "startsAt": "2026-12-01T00:00:00Z",
                            "fingerprint": "f",
                        }
                    ],
                }
            ).encode(),
            "firing or resolved",
        ),
    ],
)
def test_bad_payloads_are_refused_whole(body: bytes, error: str) -> None:
    with pytest.raises(PayloadError, match=error):
        parse_payload(body)


def test_alertmanager_payloads_parse_with_nanosecond_times() -> None:
    firing = alert("VmCrashed", {"domain": "web-1"}, starts_at="2026-12-01T19:00:00.123456789Z")
    resolved = alert(
        "VmCrashed",
        {"domain": "web-1"},
        status="resolved",
        starts_at="2026-12-01T19:00:00Z",
        ends_at="2026-12-01T19:04:00+00:00",
    )
    first, second = parse_payload(payload(firing, resolved))
    assert first.status == "firing" and first.ends_at is None and first.name == "VmCrashed"
    assert second.ends_at is not None and second.ends_at - second.starts_at == 240
    assert first.key == (first.fingerprint, first.starts_at)


def test_circuit_breaker_opens_after_n_failures_and_half_opens() -> None:
    clock = Clock()
    breakers = CircuitBreakers(3, 60, clock)
    key = ("hv1:9978", "start_domain", "web-1")
    assert not breakers.failed(key) and not breakers.failed(key)
    assert breakers.failed(key) and breakers.is_open(key) and breakers.open_keys() == [key]
    clock.now += 61
    assert not breakers.is_open(key)  # half open: one more attempt
    assert breakers.failed(key) and breakers.is_open(key)  # which failed: open again
    clock.now += 61
    breakers.succeeded(key)
    assert not breakers.is_open(key) and breakers.open_keys() == []


def test_cooldown_rate_window_and_bounded_memory() -> None:
    clock = Clock()
    cooldowns = Cooldowns(600, clock)
    key = ("hv1", "link_up", "br0")
    assert cooldowns.remaining(key) == 0
    cooldowns.started(key)
    clock.now += 100
    assert cooldowns.remaining(key) == 500
    rate = RateWindow(2, clock)
    rate.record()
    rate.record()
    assert not rate.allows()
    clock.now += 3601
    assert rate.allows()
    seen: Bounded[int, int] = Bounded(3)
    for n in range(5):
        seen.put(n, n)
    assert len(seen) == 3 and 0 not in seen and 4 in seen


def test_instance_host_parts() -> None:
    assert host_of("hv1.example.com:9978") == "hv1.example.com"
    assert host_of("[2001:db8::1]:9978") == "2001:db8::1"
    assert host_of("hv1") == "hv1"
    assert host_of("2001:db8::1") == "2001:db8::1"


def test_iscsiadm_sessions_and_ansible_recap() -> None:
    text = (
        "tcp: [3] 192.0.2.7:3260,1 iqn.2017-10.com.example:vms (non-flash)\n"
        "tcp: [4] [2001:db8::7]:3260,1 iqn.2017-10.com.example:backup (non-flash)\n"
    )
    assert parse_sessions(text) == {
        ("iqn.2017-10.com.example:vms", "192.0.2.7:3260"),
        ("iqn.2017-10.com.example:backup", "[2001:db8::7]:3260"),
    }
    recap = ("PLAY RECAP *****\n"
             "localhost                  : ok=3    changed=1    unreachable=0    failed=0    skipped=0\n")
    assert parse_recap(recap) == (3, 1, 0, 0, 0)
    assert parse_recap("ERROR! the playbook could not be found") is None


def test_disks_and_whether_their_cause_is_gone(tmp_path: Path) -> None:
    xml = f"""<domain><devices>
      <disk type='file' device='disk'><source file='{tmp_path}/a.img'/><target dev='vda'/></disk>
      <disk type='file' device='cdrom'><source file='/iso/x.iso'/><target dev='sda'/><readonly/></disk>
      <disk type='block' device='disk'><source dev='/dev/null'/><target dev='vdb'/></disk>
      <disk type='network' device='disk'><source protocol='iscsi' name='iqn.x/1'/><target dev='vdc'/></disk>
    </devices></domain>"""
    disks = parse_disks(xml)
    assert [d.target for d in disks] == ["vda", "vdb", "vdc"]
    assert cause_gone(disks, {"vda": 2}, min_free=0) == ""
    assert "bytes free" in cause_gone(disks, {"vda": 2}, min_free=1 << 60)
    assert cause_gone(disks, {"vdb": 1}, min_free=0) == ""  # /dev/null reads
    assert "cannot be checked" in cause_gone(disks, {"vdc": 1}, min_free=0)
    assert "cannot be read" in cause_gone([Disk("vde", "block", str(tmp_path / "gone"))], {}, 0)


def link(index: int, name: str, up: bool, master: int = 0) -> NetlinkLink:
    return NetlinkLink(
        index, name, IFF_UP if up else 0, "up" if up else "down", 1 if up else None, 0, 0, 0, 1500, "", master
    )


def test_down_links_of_a_bridge() -> None:
    links = [
        link(1, "br0", True),
        link(2, "eth0", False, master=1),
        link(3, "vnet0", True, master=1),
        link(4, "eth1", False),
    ]
    found, down = down_links(links, "br0")
    assert found is not None and [d.name for d in down] == ["eth0"]
    assert [d.name for d in down_links(links, "eth1")[1]] == ["eth1"]
    assert down_links(links, "nope") == (None, [])


def test_every_flag_is_in_the_readme() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme[readme.index("## Self-healing"):readme.index("## How it works")]
    flags = [a for action in build_parser()._actions for a in action.option_strings if a.startswith("--")]
    missing = [f for f in flags if f not in ("--help", "--version") and f"`{f}`" not in section]
    assert missing == []
