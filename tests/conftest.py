"""Shared fixtures: real libvirtd domains, an isolated test bridge, the exporter app."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import libvirt
import pytest
from support import linux_guest as linux_guest_image
from support.guests import HALT, boot_image, domain_xml

QEMU_URI = "qemu:///system"
NAME_PREFIX = "kvmxt-"


@pytest.fixture(scope="session")
def libvirtd_available() -> None:
    try:
        libvirt.open(QEMU_URI).close()
    except libvirt.libvirtError as exc:
        pytest.fail(f"libvirtd is not reachable at {QEMU_URI} ({exc}); start it as .ci/run does")


@pytest.fixture(scope="session")
def test_bridge() -> Iterator[str]:
    """An isolated Linux bridge with no address and no uplink: VM traffic stays on it."""
    name = "kvmxtbr0"
    subprocess.run(["ip", "link", "del", name], capture_output=True)
    subprocess.run(["ip", "link", "add", name, "type", "bridge"], check=True)
    subprocess.run(["ip", "link", "set", name, "up"], check=True)
    yield name
    subprocess.run(["ip", "link", "del", name], capture_output=True)


IMAGES = Path("/var/lib/libvirt/images")


class Domains:
    """Creates real QEMU domains for one test and removes every one of them afterwards."""

    def __init__(self, images: Path) -> None:
        self.conn = libvirt.open(QEMU_URI)
        self.tmp_path = images
        self.names: list[str] = []
        self.pools: list[str] = []
        self.networks: list[str] = []

    def name(self, hint: str = "dom") -> str:
        return f"{NAME_PREFIX}{hint}-{uuid.uuid4().hex[:6]}"

    def create(
        self,
        hint: str = "dom",
        *,
        program: bytes = HALT,
        persistent: bool = False,
        start: bool = True,
        autostart: bool = False,
        name: str | None = None,
        **xml_args: Any,
    ) -> Any:
        name = name or self.name(hint)
        disk = boot_image(self.tmp_path / f"{uuid.uuid4().hex}.img", program)
        xml = domain_xml(name, disk, **xml_args)
        self.names.append(name)
        if persistent:
            dom = self.conn.defineXML(xml)
            if autostart:
                dom.setAutostart(1)
            if start:
                dom.create()
            return dom
        return self.conn.createXML(xml, 0)

    def pool(self, hint: str, directory: Path) -> Any:
        """A running `dir` storage pool over `directory`, removed with the domains."""
        name = self.name(hint)
        directory.mkdir(parents=True, exist_ok=True)
        pool = self.conn.storagePoolDefineXML(
            f"<pool type='dir'><name>{name}</name><target><path>{directory}</path></target></pool>"
        )
        self.pools.append(name)
        pool.create()
        return pool

    def network(self, hint: str) -> Any:
        """A running, autostart virtual network on its own bridge with no address (no dnsmasq,
        no route), removed with the domains."""
        name = self.name(hint)
        net = self.conn.networkDefineXML(
            f"<network><name>{name}</name><bridge name='kvmxtvn{name[-6:]}'/></network>")
        self.networks.append(name)
        net.create()
        net.setAutostart(1)
        return net

    def close(self) -> None:
        with contextlib.suppress(libvirt.libvirtError):
            self.conn.close()
        # A fresh connection: the test may have restarted libvirtd under the old one.
        self.conn = libvirt.open(QEMU_URI)
        for name in self.names:
            with contextlib.suppress(libvirt.libvirtError):
                dom = self.conn.lookupByName(name)
                if dom.isActive():
                    dom.destroy()
                if dom.isPersistent():
                    # snapshot metadata (tests redefine snapshots) would block a plain undefine
                    dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
        for name in self.pools:
            with contextlib.suppress(libvirt.libvirtError):
                pool = self.conn.storagePoolLookupByName(name)
                if pool.isActive():
                    pool.destroy()
                pool.undefine()
        for name in self.networks:
            with contextlib.suppress(libvirt.libvirtError):
                net = self.conn.networkLookupByName(name)
                if net.isActive():
                    net.destroy()
                net.undefine()
        self.conn.close()


@pytest.fixture
def domains(libvirtd_available: None) -> Iterator[Domains]:
    # QEMU runs as libvirt-qemu and cannot enter pytest's private tmp dirs.
    images = IMAGES / f"kvm-exporter-tests-{uuid.uuid4().hex[:8]}"
    images.mkdir(parents=True, mode=0o755)
    created = Domains(images)
    yield created
    created.close()
    shutil.rmtree(images, ignore_errors=True)


@pytest.fixture(scope="session")
def linux_guest(libvirtd_available: None) -> Callable[[Domains], Any]:
    """A factory of TCG domains running a real Linux with qemu-guest-agent (built once)."""
    vmlinuz, initrd = linux_guest_image.build()

    def start(domains: Domains) -> Any:
        name = domains.name("linux")
        disk = linux_guest_image.data_disk(domains.tmp_path / f"{name}-data.img")
        console = domains.tmp_path / f"{name}-console.log"
        domains.names.append(name)
        return domains.conn.createXML(linux_guest_image.domain_xml(name, vmlinuz, initrd, disk, console), 0)

    return start


# Fixtures that bring up real components: a test using one is slow (and needs root).
REAL_COMPONENTS = {"libvirtd_available", "libvirtd", "domains", "test_bridge", "namespaces", "netns",
                   "ovs", "tgt", "memory_cgroup", "rw_conn", "node_exporter", "linux_guest", "ha_cluster"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`-m quick`: the unit, parser and fixture tests (under a minute); `-m slow`: the ones
    with real libvirtd/QEMU, namespaces, OVS, tgt, cgroups, Prometheus and Alertmanager."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if item.get_closest_marker("slow") is None and (fixtures & REAL_COMPONENTS
                                                         or item.get_closest_marker("libvirtd")):
            item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.quick)


@pytest.fixture(scope="session")
def ha_cluster(libvirtd_available: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One real corosync + Pacemaker cluster for the whole session (tests/support/cluster.py)."""
    from support.cluster import refusal, running_cluster

    reason = refusal()
    if reason:
        pytest.fail(reason)
    with running_cluster(tmp_path_factory.mktemp("cluster")) as cluster:
        yield cluster
