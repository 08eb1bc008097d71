"""libvirtd frozen and restarted under a running exporter (the shared daemon: run serially).

Faults: exporter_health, kmod_failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import libvirt
import psutil
import pytest
from conftest import QEMU_URI, Domains
from support.scrape import get, parse_samples, series

import exporter.collectors  # noqa: F401 - registers the collectors
from exporter.http import create_app
from exporter.settings import Settings

pytestmark = [pytest.mark.libvirtd, pytest.mark.disruptive]

TIMEOUT = 0.5


def libvirtd_process() -> psutil.Process:
    """The daemon itself, not a child it forked to run a command or start a QEMU (which is
    named libvirtd until it execs)."""
    found = [p for p in psutil.process_iter(["name", "ppid"]) if p.info["name"] == "libvirtd"]
    pids = {p.pid for p in found}
    daemons = [p for p in found if p.info["ppid"] not in pids]
    assert len(daemons) == 1, f"expected one libvirtd, found {found}"
    return daemons[0]


def wait_for_libvirtd(seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            libvirt.open(QEMU_URI).close()
            return
        except libvirt.libvirtError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def libvirtd(libvirtd_available: None) -> Iterator[psutil.Process]:
    process = libvirtd_process()
    yield process
    if process.is_running() and process.status() == psutil.STATUS_STOPPED:
        process.resume()


def threads_inside_libvirt_calls() -> int:
    """Worker threads whose stack is inside a libvirt-python call (the event loop excluded)."""
    names = {t.ident: t.name for t in __import__("threading").enumerate()}
    stuck = 0
    for ident, frame in sys._current_frames().items():
        if names.get(ident) == "libvirt-events":
            continue
        stack = frame
        while stack is not None:
            if stack.f_code.co_filename.endswith(os.sep + "libvirt.py"):
                stuck += 1
                break
            stack = stack.f_back
    return stuck


async def test_frozen_libvirtd_costs_only_the_libvirt_collector(
    aiohttp_client: Any, domains: Domains, libvirtd: psutil.Process
) -> None:
    dom = domains.create("frozen")
    settings = Settings(libvirt_uri=QEMU_URI, collector_timeout=TIMEOUT,
                        collectors=frozenset({"libvirt", "process"}))
    client = await aiohttp_client(create_app(settings))
    samples = parse_samples(await (await client.get("/metrics")).text())
    assert get(samples, "kvm_scrape_collector_success", collector="libvirt") == 1
    libvirtd.suspend()
    try:
        for _ in range(50):
            started = time.monotonic()
            samples = parse_samples(await (await client.get("/metrics")).text())
            assert time.monotonic() - started <= TIMEOUT + 1
            assert get(samples, "kvm_scrape_collector_success", collector="libvirt") == 0
            assert get(samples, "kvm_scrape_collector_success", collector="process") == 1
            assert not series(samples, "kvm_domain_info")
        assert threads_inside_libvirt_calls() <= 1
    finally:
        libvirtd.resume()
    await asyncio.sleep(0.2)
    samples = parse_samples(await (await client.get("/metrics")).text())
    assert get(samples, "kvm_scrape_collector_success", collector="libvirt") == 1
    assert get(samples, "kvm_libvirt_up") == 1
    assert get(samples, "kvm_domain_state_code", domain=dom.name()) == 1


async def test_exporter_reconnects_after_libvirtd_restart(
    aiohttp_client: Any, domains: Domains, libvirtd: psutil.Process
) -> None:
    """The one shared libvirt source follows a restarted libvirtd for every collector that
    reads it: libvirt, storage (disk images) and config (definition drift), including a
    domain defined only after the restart."""
    dom = domains.create("restart", persistent=True)
    settings = Settings(libvirt_uri=QEMU_URI, collector_timeout=5,
                        collectors=frozenset({"libvirt", "process", "storage", "config"}))
    client = await aiohttp_client(create_app(settings))
    samples = parse_samples(await (await client.get("/metrics")).text())
    assert get(samples, "kvm_domain_state_code", domain=dom.name()) == 1
    assert get(samples, "kvm_domain_disk_image_present", domain=dom.name(), target="vda") == 1
    assert get(samples, "kvm_domain_config_drift", domain=dom.name()) == 0
    command = libvirtd.cmdline()
    libvirtd.send_signal(signal.SIGTERM)
    libvirtd.wait(30)
    try:
        samples = parse_samples(await (await client.get("/metrics")).text())
        assert get(samples, "kvm_libvirt_up") == 0
        assert get(samples, "kvm_scrape_collector_success", collector="libvirt") == 0
    finally:
        subprocess.run(command, check=True)
        await asyncio.to_thread(wait_for_libvirtd)
    domains.conn = libvirt.open(QEMU_URI)  # the test's own connection died with the daemon
    later = domains.create("defined-after", persistent=True)
    samples = parse_samples(await (await client.get("/metrics")).text())
    assert get(samples, "kvm_libvirt_up") == 1
    for collector in ("libvirt", "storage", "config"):
        assert get(samples, "kvm_scrape_collector_success", collector=collector) == 1
    for each in (dom, later):
        assert get(samples, "kvm_domain_state_code", domain=each.name()) == 1
        assert get(samples, "kvm_domain_disk_image_present", domain=each.name(), target="vda") == 1
        assert get(samples, "kvm_domain_config_drift", domain=each.name()) == 0


POLKIT_RULES = Path("/etc/polkit-1/rules.d/60-kvm-exporter-guest-agent.rules")


def stop_libvirtd() -> None:
    """Every libvirtd gone (its pid file released), so the next one can start. A daemon
    reparented to an init that does not reap stays a zombie: that counts as gone."""
    for process in psutil.process_iter(["name"]):
        if process.info["name"] != "libvirtd":
            continue
        with contextlib.suppress(psutil.NoSuchProcess):
            process.terminate()
            deadline = time.monotonic() + 30
            while process.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
                time.sleep(0.1)


def readme_polkit_rule(user: str) -> str:
    """The guest-agent polkit rule exactly as the README ships it, for `user`."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("### Guest agent"):]
    rule = section[section.index("```js\n") + 6:section.index("\n```", section.index("```js"))]
    assert '"kvm-exporter"' in rule
    return rule.replace('"kvm-exporter"', f'"{user}"')


def as_user(user: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["runuser", "-u", user, "--", "virsh", "-c", QEMU_URI, *argv],
                          capture_output=True, text=True, timeout=60)


def test_the_readme_polkit_rule_grants_the_agent_call_and_nothing_more(
    domains: Domains, libvirtd: psutil.Process, linux_guest: Any, tmp_path: Path
) -> None:
    """libvirtd restarted with the polkit access driver (and a system D-Bus and polkitd the
    test starts), the README's rule installed for a fresh user: that user can list the
    guests and read the agent's answer, and is denied suspending or destroying one."""
    dom = linux_guest(domains)
    name = dom.name()
    deadline = time.monotonic() + 60
    while True:  # the agent is up before the daemon changes under it
        try:
            dom.guestInfo(libvirt.VIR_DOMAIN_GUEST_INFO_HOSTNAME, 0)
            break
        except libvirt.libvirtError:
            assert time.monotonic() < deadline, "the guest's agent never answered"
            time.sleep(1)
    user = f"kvmxpk{os.getpid() % 10000}"
    config = tmp_path / "libvirtd.conf"
    config.write_text('access_drivers = [ "polkit" ]\nauth_unix_rw = "polkit"\nunix_sock_rw_perms = "0777"\n')
    command = libvirtd.cmdline()
    started: list[subprocess.Popen[bytes]] = []
    subprocess.run(["useradd", "-r", "-M", "-s", "/usr/sbin/nologin", user], check=True)
    try:
        Path("/run/dbus").mkdir(exist_ok=True)
        started.append(subprocess.Popen(["dbus-daemon", "--system", "--nofork", "--nopidfile"]))
        time.sleep(0.5)
        started.append(subprocess.Popen(["/usr/lib/polkit-1/polkitd", "--no-debug"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        POLKIT_RULES.write_text(readme_polkit_rule(user))
        libvirtd.send_signal(signal.SIGTERM)
        libvirtd.wait(30)
        subprocess.run([*command, f"--config={config}"], check=True)
        deadline = time.monotonic() + 30  # root too is subject to the rules now: wait as the user
        while (listed := as_user(user, "list", "--name")).returncode != 0 and time.monotonic() < deadline:
            time.sleep(0.5)
        deadline = time.monotonic() + 30  # the restarted daemon reconnects to the agent's channel
        while ((answer := as_user(user, "guestinfo", name, "--hostname", "--filesystem")).returncode != 0
               and "not connected" in answer.stderr and time.monotonic() < deadline):
            time.sleep(0.5)
        suspend, destroy = as_user(user, "suspend", name), as_user(user, "destroy", name)
    finally:
        POLKIT_RULES.unlink(missing_ok=True)
        stop_libvirtd()
        for process in reversed(started):  # before libvirtd starts: it quits when its D-Bus goes
            process.terminate()
            process.wait(10)
        Path("/run/dbus/system_bus_socket").unlink(missing_ok=True)
        subprocess.run(command, check=True)
        wait_for_libvirtd()
        subprocess.run(["userdel", user], check=False)
    domains.conn = libvirt.open(QEMU_URI)  # the test's own connection died with the daemon
    assert listed.returncode == 0 and name in listed.stdout.split(), listed
    assert answer.returncode == 0 and "hostname            : kvmx-guest" in answer.stdout, answer
    assert "fs.0.mountpoint     : /data" in answer.stdout, answer
    for denied in (suspend, destroy):
        assert denied.returncode != 0 and "access denied" in denied.stderr, denied
