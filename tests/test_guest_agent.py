"""The guest_agent collector: a real qemu-guest-agent in a TCG guest (a Debian cloud kernel,
busybox and Debian's qemu-ga in an initramfs, `support/linux_guest.py`), a guest without an
agent, the read-only refusal that makes the collector open its own connection, and the
parser on a recorded answer and on libvirt's documented keys."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import libvirt
import pytest
from conftest import QEMU_URI, Domains
from support.domstats_fixtures import LIBVIRT_FIXTURES
from support.scrape import exporter, get, only, series, wait_until

from exporter.collectors.guest_agent import Address, Filesystem, parse_guest_info

AGENT_CHANNEL = "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"
AGENT = (*only("guest_agent"), "--guest-agent.interval=1s", "--guest-agent.timeout=3s")
root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (libvirtd)")


def agent_up(samples: Any, domain: str, error: str = "") -> float | None:
    return get(samples, "kvm_domain_guest_agent_up", domain=domain, error=error)


@root
def test_a_read_only_connection_may_not_ask_the_agent(domains: Domains) -> None:
    dom = domains.create("agentro", extra_devices=AGENT_CHANNEL)
    read_only = libvirt.openReadOnly(QEMU_URI)
    try:
        with pytest.raises(libvirt.libvirtError) as refused:
            read_only.lookupByName(dom.name()).guestInfo(libvirt.VIR_DOMAIN_GUEST_INFO_OS, 0)
    finally:
        read_only.close()
    assert refused.value.get_error_code() == libvirt.VIR_ERR_OPERATION_DENIED


@root
def test_a_guest_without_an_agent_is_down_and_costs_no_scrape(domains: Domains) -> None:
    dom = domains.create("noagent", extra_devices=AGENT_CHANNEL)
    with exporter(*AGENT) as running:
        samples = wait_until(running.scrape,
                             lambda s: series(s, "kvm_domain_guest_agent_up", domain=dom.name()))
    assert get(samples, "kvm_domain_guest_agent_up", domain=dom.name(), error="not_connected") == 0
    assert not series(samples, "kvm_domain_guest_os_info", domain=dom.name())


def test_an_unreachable_agent_connection_fails_the_collector(tmp_path: Path) -> None:
    uri = f"qemu+unix:///system?socket={tmp_path}/no-such-socket"
    with exporter(*only("guest_agent"), "--guest-agent.interval=1s", f"--guest-agent.uri={uri}") as running:
        samples = wait_until(running.scrape,
                             lambda s: get(s, "kvm_scrape_collector_success", collector="guest_agent") == 0)
    assert get(samples, "kvm_scrape_collector_success", collector="guest_agent") == 0


@root
@pytest.mark.slow
def test_a_real_guest_agent(domains: Domains, linux_guest: Any) -> None:
    dom = linux_guest(domains)
    name = dom.name()
    with exporter(*AGENT) as running:
        samples = wait_until(running.scrape,
                             lambda s: get(s, "kvm_domain_guest_agent_up", domain=name, error="") == 1, 120)
    assert get(samples, "kvm_domain_guest_agent_up", domain=name, error="") == 1
    assert series(samples, "kvm_domain_guest_hostname_info", domain=name)[0]["hostname"] == "kvmx-guest"
    os_info = series(samples, "kvm_domain_guest_os_info", domain=name)[0]
    assert os_info["id"] == "debian" and os_info["kernel_release"].endswith("-cloud-amd64")
    data = {"domain": name, "mountpoint": "/data", "fstype": "ext4"}
    size = get(samples, "kvm_domain_guest_filesystem_size_bytes", **data)
    used = get(samples, "kvm_domain_guest_filesystem_used_bytes", **data)
    assert size is not None and 20 << 20 < size <= 32 << 20
    assert used is not None and 0 < used < size
    assert {"interface": "lo", "address": "127.0.0.1", "prefix": "8", "family": "ipv4"}.items() <= series(
        samples, "kvm_domain_guest_interface_address_info", domain=name, address="127.0.0.1")[0].items()


def test_a_recorded_agent_answer() -> None:
    recorded = json.loads((LIBVIRT_FIXTURES / "guestinfo-qemu-ga-7.2.json").read_text())
    info = parse_guest_info(recorded)
    assert (info.os["id"], info.os["version-id"], info.hostname) == ("debian", "12", "kvmx-guest")
    assert info.filesystems == (Filesystem("/data", "ext4", 24116224, 14336),)
    assert [(a.address, a.prefix, a.family) for a in info.addresses] == [("127.0.0.1", 8, "ipv4"),
                                                                        ("::1", 128, "ipv6")]


def test_guest_info_parser() -> None:
    """The typed parameters libvirt documents for virDomainGetGuestInfo."""
    info = parse_guest_info({
        "os.id": "debian", "os.name": "Debian GNU/Linux", "os.version-id": "12",
        "os.kernel-release": "6.1.0-57-cloud-amd64", "os.machine": "x86_64", "hostname": "web-1",
        "fs.count": 2, "fs.0.mountpoint": "/", "fs.0.fstype": "ext4", "fs.0.total-bytes": 1000,
        "fs.0.used-bytes": 400, "fs.1.mountpoint": "/boot", "fs.1.fstype": "vfat",
        "if.count": 1, "if.0.name": "eth0", "if.0.hwaddr": "52:54:00:aa:bb:cc", "if.0.addr.count": 2,
        "if.0.addr.0.type": "ipv4", "if.0.addr.0.addr": "10.0.0.5", "if.0.addr.0.prefix": 24,
        "if.0.addr.1.type": "ipv6", "if.0.addr.1.addr": "fe80::1", "if.0.addr.1.prefix": 64,
    })
    assert info.os["id"] == "debian" and info.hostname == "web-1"
    assert info.filesystems == (Filesystem("/", "ext4", 1000, 400), Filesystem("/boot", "vfat", None, None))
    assert info.addresses == (Address("eth0", "52:54:00:aa:bb:cc", "10.0.0.5", 24, "ipv4"),
                              Address("eth0", "52:54:00:aa:bb:cc", "fe80::1", 64, "ipv6"))


@pytest.mark.parametrize("params", [{}, {"fs.count": 3}, {"fs.count": -1}, {"fs.count": "2"},
                                    {"if.count": 1, "if.0.addr.count": 10**9}])
def test_incomplete_guest_info_gives_what_is_there(params: dict[str, Any]) -> None:
    info = parse_guest_info(params)
    assert all(fs.mountpoint == "" for fs in info.filesystems)
    assert len(info.addresses) == 0



@root
@pytest.mark.slow
def test_a_hung_guest_is_marked_down_and_never_stalls_a_scrape(domains: Domains, linux_guest: Any) -> None:
    """SIGSTOP on the guest's QEMU: its agent cannot answer, libvirt's call waits; the
    collector marks it `timeout` after --guest-agent.timeout and scrapes stay quick."""
    dom = linux_guest(domains)
    name = dom.name()
    pid = int(Path(f"/run/libvirt/qemu/{name}.pid").read_text())
    with exporter(*AGENT) as running:
        wait_until(running.scrape, lambda s: agent_up(s, name) == 1, 120)
        os.kill(pid, signal.SIGSTOP)
        try:
            hung = wait_until(running.scrape, lambda s: agent_up(s, name, "timeout") == 0, 30)
            took = []
            for _ in range(5):
                start = time.monotonic()
                running.scrape()
                took.append(time.monotonic() - start)
        finally:
            os.kill(pid, signal.SIGCONT)
        assert get(hung, "kvm_domain_guest_agent_up", domain=name, error="timeout") == 0
        assert get(hung, "kvm_domain_guest_agent_last_answer_timestamp_seconds", domain=name) is not None
        assert max(took) < 1, took
        back = wait_until(running.scrape, lambda s: agent_up(s, name) == 1, 60)
    assert agent_up(back, name) == 1
