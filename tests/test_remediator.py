"""kvm-remediator as a running program: its brakes and its security against real requests,
and its actions against the real libvirtd, a real iscsiadm stand-in and real Ansible.

Faults: remediation (and the actions for domain_failure, vswitch_down, iscsi_session,
virtual_disk; end to end in test_remediation_e2e.py).
"""

from __future__ import annotations

import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import bcrypt
import libvirt
import pytest
import trustme
import yaml
from support.guests import BOOT_SIGNATURE, DISK_IO_SECOND_PAGE, SECTOR, domain_xml
from support.remediator import SHIPPED_CONFIG, alert, compressed_config, payload, remediator
from support.scrape import get

from exporter.remediator.actions.virt import METADATA_NS

pytestmark = pytest.mark.slow

INSTANCE = "hv1.test:9978"


def program(tmp: Path, name: str, exit_code: int = 0) -> Path:
    """A program that records each run's arguments, one line each, then exits `exit_code`."""
    script = tmp / name
    script.write_text(f"#!{sys.executable}\nimport sys\nopen({str(tmp / (name + '.runs'))!r}, 'a')"
                      f".write(repr(sys.argv[1:]) + '\\n')\nsys.exit({exit_code})\n")
    script.chmod(0o755)
    return script


def runs(script: Path) -> list[str]:
    path = script.parent / (script.name + ".runs")
    return path.read_text().splitlines() if path.exists() else []


def exec_config(tmp: Path, command: list[str], **limits: object) -> Path:
    config = {"limits": {"cooldown": "1s", **limits},
              "playbooks": [{"name": "record", "matchers": ['alertname="VmConfigDrift"'], "action": "exec",
                             "command": command}]}
    path = tmp / "exec-config.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_burst_of_duplicates_and_an_ha_pairs_copies_cause_one_action(tmp_path: Path) -> None:
    record = program(tmp_path, "record")
    config = exec_config(tmp_path, [str(record), "--domain", "{domain}"])
    with remediator(tmp_path, "--mode=enforce", f"--instance={INSTANCE}", config=config) as rem:
        body = payload(alert("VmConfigDrift", {"instance": INSTANCE, "domain": "web-1"}))
        statuses: list[int] = []
        threads = [threading.Thread(target=lambda: statuses.append(rem.post(body))) for _ in range(200)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert statuses == [200] * 200
        rem.wait_action(result="succeeded")
        time.sleep(1.5)  # past the cooldown: still nothing new, the alert was healed
        assert rem.post(body) == 200
        time.sleep(0.5)
        assert runs(record) == ["['--domain', 'web-1']"]
        decisions = rem.records("decision")
        assert len(decisions) == 201
        assert sum(d["result"] == "accepted" for d in decisions) == 1
        assert sum(d.get("reason") == "duplicate" for d in decisions) == 200
        samples = rem.metrics()
        assert get(samples, "kvm_remediator_actions_total", action="exec", result="succeeded") == 1
        assert get(samples, "kvm_remediator_alerts_ignored_total", reason="duplicate") == 200


def test_a_target_that_keeps_failing_opens_its_circuit(tmp_path: Path) -> None:
    failing = program(tmp_path, "failing", exit_code=3)
    config = exec_config(tmp_path, [str(failing), "{domain}"], breaker_failures=3, breaker_open_for="1h")
    with remediator(tmp_path, "--mode=enforce", f"--instance={INSTANCE}", config=config) as rem:
        body = payload(alert("VmConfigDrift", {"instance": INSTANCE, "domain": "db-1"}))
        deadline = time.monotonic() + 30
        while len(rem.actions(result="failed")) < 3:  # Alertmanager's repeats, once the cooldown passed
            assert time.monotonic() < deadline, rem.records()[-3:]
            rem.post(body)
            time.sleep(0.3)
        assert rem.actions()[-1]["circuit"] == "opened"
        time.sleep(1.2)
        rem.post(body)
        refused = rem.records("decision")[-1]
        assert refused["result"] == "circuit_open", refused
        assert len(runs(failing)) == 3
        samples = rem.metrics()
        assert get(samples, "kvm_remediator_circuit_breaker_open", instance=INSTANCE, action="exec",
                   target="db-1") == 1
        assert get(samples, "kvm_remediator_actions_total", action="exec", result="failed") == 3
        assert get(samples, "kvm_remediator_actions_total", action="exec", result="circuit_open") == 1
        assert "circuit breaker opened" in rem.log.read_text()


def test_hostile_labels_resolved_alerts_and_other_hosts_never_act(tmp_path: Path) -> None:
    record = program(tmp_path, "record")
    config = exec_config(tmp_path, [str(record), "{domain}"])
    hostile = ["../../etc/passwd", "; rm -rf /", "web\nrm -rf /", "x" * 10_000, "-rf", "$(reboot)"]
    with remediator(tmp_path, "--mode=enforce", f"--instance={INSTANCE}", config=config) as rem:
        for value in hostile:
            assert rem.post(payload(alert("VmConfigDrift", {"instance": INSTANCE, "domain": value}))) == 200
        assert rem.post(payload(alert("VmConfigDrift", {"instance": INSTANCE, "domain": "ok"},
                                      status="resolved", ends_at="2026-12-01T19:00:00Z"))) == 200
        assert rem.post(payload(alert("VmConfigDrift", {"instance": "hv2.test:9978", "domain": "ok"}))) == 200
        assert rem.post(payload(alert("VmConfigDrift", {"domain": "ok"}))) == 200  # no instance at all
        assert rem.post(b'{"version": "4", "alerts": [{"status": "firing"}]}') == 400
        time.sleep(1)
        assert runs(record) == []
        decisions = rem.records("decision")
        refused = [d for d in decisions if d["result"] == "refused"]
        assert len(refused) == len(hostile)
        assert all("is not a valid domain" in d["reason"] for d in refused)
        assert max(len(line) for line in rem.audit.read_text().splitlines()) < 2000  # 10 kB value cut
        ignored = [d["reason"] for d in decisions if d["result"] == "ignored"]
        assert ignored == ["other_instance", "other_instance"]
        assert [d["result"] for d in decisions if d["status"] == "resolved"] == ["recovered"]
        assert rem.records("request")[-1]["result"] == "bad_payload"


def test_credentials_and_tls_are_required_and_refusals_are_audited(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "tls.crt"))
    cert.private_key_pem.write_to_path(str(tmp_path / "tls.key"))
    hashed = bcrypt.hashpw(b"s3cret-pass", bcrypt.gensalt(rounds=4)).decode()
    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump({"tls_server_config": {"cert_file": str(tmp_path / "tls.crt"),
                                                         "key_file": str(tmp_path / "tls.key")},
                                   "basic_auth_users": {"alertmanager": hashed}}))
    record = program(tmp_path, "record")
    config = exec_config(tmp_path, [str(record), "{domain}"])
    with remediator(tmp_path, "--mode=enforce", f"--instance={INSTANCE}", f"--web.config.file={web}",
                    config=config, ready=False) as rem:
        context = ssl.create_default_context()
        ca.configure_trust(context)
        plain, https = rem.url, rem.url.replace("http://", "https://")
        rem.url = https
        body = payload(alert("VmConfigDrift", {"instance": INSTANCE, "domain": "web-1"}))
        deadline = time.monotonic() + 30
        while True:
            try:
                first = rem.post(body, context=context)
                break
            except OSError:
                assert time.monotonic() < deadline and rem.process.poll() is None, rem.log.read_text()
                time.sleep(0.2)
        assert first == 401
        assert rem.post(body, "alertmanager", "wrong", context=context) == 401
        rem.url = plain
        with pytest.raises(OSError):  # plain HTTP to the TLS listener: no answer, nothing done
            rem.post(body, "alertmanager", "s3cret-pass")
        rem.url = https
        time.sleep(0.5)
        assert runs(record) == []
        requests = rem.records("request")
        assert [r["result"] for r in requests] == ["unauthorized", "unauthorized"]
        assert requests[1]["user"] == "alertmanager"
        assert "s3cret" not in rem.audit.read_text() and "wrong" not in rem.audit.read_text()
        assert rem.post(body, "alertmanager", "s3cret-pass", context=context) == 200
        rem.wait_action(result="succeeded")
        assert "s3cret" not in rem.log.read_text()


def test_iscsi_login_through_iscsiadm(tmp_path: Path) -> None:
    """A stand-in iscsiadm keeps node records and sessions in files: login adds a session."""
    state = tmp_path / "iscsi"
    state.mkdir()
    (state / "nodes").write_text("iqn.2017-10.com.example:backup 192.0.2.7:3260\n")
    (state / "sessions").write_text("")
    fake = tmp_path / "iscsiadm"
    fake.write_text(f"""#!{sys.executable}
import sys
state = {str(state)!r}
args = sys.argv[1:]
open(state + "/calls", "a").write(" ".join(args) + "\\n")
sessions = open(state + "/sessions").read().split("\\n")
sessions = [s for s in sessions if s]
if args == ["-m", "session"]:
    if not sessions:
        print("iscsiadm: No active sessions."); sys.exit(21)
    for n, s in enumerate(sessions, 1):
        target, portal = s.split()
        print(f"tcp: [{{n}}] {{portal}},1 {{target}} (non-flash)")
    sys.exit(0)
target, portal = args[args.index("-T") + 1], args[args.index("-p") + 1]
if f"{{target}} {{portal}}" not in open(state + "/nodes").read():
    sys.exit(21)
if "--login" in args:
    open(state + "/sessions", "a").write(f"{{target}} {{portal}}\\n")
sys.exit(0)
""")
    fake.chmod(0o755)
    labels = {"instance": INSTANCE, "target": "iqn.2017-10.com.example:backup", "portal": "192.0.2.7:3260",
              "iface": "default"}
    with remediator(tmp_path, "--mode=enforce", f"--instance={INSTANCE}", f"--iscsiadm.path={fake}") as rem:
        rem.post(payload(alert("IscsiExpectedSessionMissing", labels)))
        assert rem.wait_action(action="iscsi_login")["result"] == "succeeded"
        assert "--login" in (state / "calls").read_text()
        assert "-I default" in (state / "calls").read_text()
        rem.post(payload(alert("IscsiExpectedSessionMissing", {**labels, "iface": "other"})))
        assert rem.records("decision")[-1]["result"] == "cooldown"  # the same target, just acted on
        gone = {**labels, "target": "iqn.2017-10.com.example:gone"}
        rem.post(payload(alert("IscsiExpectedSessionMissing", gone)))
        refused = rem.wait_action(action="iscsi_login", result="refused")
        assert "no node record" in refused["detail"]
    assert (state / "calls").read_text().count("--login") == 1


TEST_NODE = """<node>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>{name}</name>
    <memory>65536</memory>
    <metadata><remediation xmlns="{ns}" keep-running="yes"/></metadata>
    <os><type>hvm</type></os>
    <test:runstate>5</test:runstate>
  </domain>
</node>"""


def test_start_domain_acts_only_on_its_own_libvirt_endpoint(tmp_path: Path, domains) -> None:  # type: ignore[no-untyped-def]
    """Two libvirt endpoints, one remediator each: host A is this libvirtd, host B a libvirt
    test-driver node (its own domain set, a fresh copy per connection), both with a shut-off
    domain of the same name that should run (autostart on A, keep-running metadata on B).
    B's alert is handled by B alone; A's dry-run says what it would do and changes nothing;
    A in enforce mode starts A's domain; a domain not marked to run is refused."""
    name = domains.name("twin")
    system = domains.create(name=name, persistent=True, start=False, autostart=True)
    node = tmp_path / "node.xml"
    node.write_text(TEST_NODE.format(name=name, ns=METADATA_NS))
    with remediator(tmp_path, "--instance=hv-a", name="dry-a") as dry_a, \
         remediator(tmp_path, "--mode=enforce", "--instance=hv-a", name="a") as rem_a, \
         remediator(tmp_path, "--mode=enforce", "--instance=hv-b", f"--libvirt.uri=test://{node}",
                    name="b") as rem_b:
        for_b = payload(alert("VmAutostartNotRunning", {"instance": "hv-b:9978", "domain": name}))
        for rem in (dry_a, rem_a, rem_b):
            rem.post(for_b)
        assert rem_b.wait_action(result="succeeded")["detail"] == f"started {name}"
        assert [d["reason"] for d in rem_a.records("decision")] == ["other_instance"]
        assert not system.isActive()
        for_a = payload(alert("VmAutostartNotRunning", {"instance": "hv-a:9978", "domain": name}))
        dry_a.post(for_a)
        assert dry_a.wait_action()["result"] == "dry_run"
        assert dry_a.actions()[0]["detail"].startswith(f"would start {name}")
        time.sleep(1)
        assert not system.isActive()
        rem_a.post(for_a)
        assert rem_a.wait_action()["result"] == "succeeded"
        assert system.isActive()
        manual = domains.create("manual", persistent=True, start=False)
        labels = {"instance": "hv-a:9978", "domain": manual.name()}
        rem_a.post(payload(alert("VmAutostartNotRunning", labels)))
        refused = rem_a.wait_action(result="refused")
        assert "not marked autostart" in refused["detail"] and not manual.isActive()
        rem_b.post(payload(alert("VmAutostartNotRunning", {"instance": "hv-b:9978", "domain": "absent"})))
        assert "no domain 'absent'" in rem_b.wait_action(result="refused")["detail"]


def commented_playbook(name: str) -> dict[str, object]:
    """A playbook the shipped config carries commented out, uncommented as a user would."""
    lines = SHIPPED_CONFIG.read_text().splitlines()
    start = lines.index(f"  # - name: {name}")
    block = []
    for line in lines[start:]:
        if not line.startswith("  #   ") and line != f"  # - name: {name}":
            break
        block.append(line.replace("  # ", "  ", 1))
    found: dict[str, object] = yaml.safe_load("\n".join(block))[0]
    return found


def test_an_ansible_playbook_starts_a_domain_check_mode_first(tmp_path: Path, domains) -> None:  # type: ignore[no-untyped-def]
    """The shipped ensure-vm-running playbook (community.libvirt) through the ansible_playbook
    action against the real libvirtd: check mode in dry-run changes nothing, enforce starts it."""
    # Debian's ansible carries community.libvirt; the venv's ansible-core (from ansible-lint) does not
    ansible = "/usr/bin/ansible-playbook"
    if not Path(ansible).exists():
        pytest.fail("Debian's ansible is not installed (deploy/install.sh --test installs it)")
    dom = domains.create("ansible", persistent=True, start=False)
    config_dir = tmp_path / "conf"
    config_dir.mkdir()
    config = compressed_config(config_dir / "config.yml")
    shipped = yaml.safe_load(config.read_text())
    shipped["playbooks"].insert(0, commented_playbook("restart-crashed-vm-ansible"))
    shipped["limits"]["action_timeout"] = "2m"
    config.write_text(yaml.safe_dump(shipped))
    labels = {"instance": INSTANCE, "domain": dom.name(), "detail": "crashed"}
    with remediator(tmp_path, f"--instance={INSTANCE}", f"--ansible-playbook.path={ansible}", config=config,
                    name="dry") as dry:
        dry.post(payload(alert("VmCrashed", labels)))
        outcome = dry.wait_action(seconds=120)
        assert outcome["result"] == "dry_run", outcome
        # community.libvirt's virt module has no check mode: Ansible skips its start task
        assert outcome["detail"] == "check mode: 0 task(s) would change, 1 skipped"
        assert not dom.isActive()
    flags = ("--mode=enforce", f"--instance={INSTANCE}", f"--ansible-playbook.path={ansible}")
    with remediator(tmp_path, *flags, config=config, name="real") as rem:
        rem.post(payload(alert("VmCrashed", labels)))
        outcome = rem.wait_action(seconds=120)
        assert outcome["result"] == "succeeded", outcome
        assert dom.isActive()
        assert outcome["time_to_recover"] > 0
        assert get(rem.metrics(), "kvm_remediator_time_to_recover_seconds_count", remediated="true") == 1
    with remediator(tmp_path, *flags, config=config, name="again") as again:
        again.post(payload(alert("VmCrashed", labels)))  # running already: Ansible changes nothing
        outcome = again.wait_action(seconds=120)
        assert (outcome["result"], outcome["detail"]) == ("not_needed", "ansible-playbook: 0 task(s) changed")


def test_a_domain_paused_on_io_error_is_resumed_only_once_space_is_back(tmp_path: Path, domains) -> None:  # type: ignore[no-untyped-def]
    """A raw disk on a tmpfs that the test fills: the guest's first write pauses it on ENOSPC;
    the shipped playbook refuses while the tmpfs is full and resumes once the test frees it."""
    mount = Path(domains.tmp_path) / "full"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300m,mode=0755", "kvmxt-rem", str(mount)], check=True)
    try:
        image = mount / "disk.img"
        with image.open("wb") as handle:  # sparse: the page the guest writes is a hole
            handle.write(DISK_IO_SECOND_PAGE.ljust(SECTOR - len(BOOT_SIGNATURE), b"\0") + BOOT_SIGNATURE)
            handle.truncate(1 << 20)
        image.chmod(0o666)
        filler = mount / "filler"
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1M", "status=none"], check=False)
        name = domains.name("ioerr")
        domains.names.append(name)
        dom = domains.conn.createXML(domain_xml(name, image), 0)
        deadline = time.monotonic() + 60
        while dom.state() != [libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_IOERROR]:
            assert time.monotonic() < deadline, dom.state()
            time.sleep(0.5)
        labels = {"instance": INSTANCE, "domain": name, "state": "paused", "reason": "ioerror"}
        with remediator(tmp_path, "--mode=enforce", f"--instance={INSTANCE}") as rem:
            body = payload(alert("VmPausedOnIoError", labels))
            rem.post(body)
            refused = rem.wait_action(result="refused")
            assert "bytes free on the filesystem" in refused["detail"], refused
            assert dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED
            filler.unlink()
            rem.post(body)  # Alertmanager's repeat: a refusal has no cooldown
            resumed = rem.wait_action(result="succeeded")
            assert resumed["detail"] == f"resumed {name}"
            assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    finally:
        for each in list(domains.names):
            try:
                found = domains.conn.lookupByName(each)
                if found.isActive() and mount.as_posix() in found.XMLDesc(0):
                    found.destroy()
            except libvirt.libvirtError:
                pass
        subprocess.run(["umount", str(mount)], check=False)
