"""A real one-node corosync 3 + Pacemaker 2 cluster for the tests, without systemd: corosync
runs in the foreground on 127.0.0.1 with a corosync.conf in the test's scratch directory,
then pacemakerd. Stopped by pid, its children included.

Pacemaker keeps its CIB in a compiled-in directory: the tests use `/var/lib/pacemaker/{cib,
pengine}`, `/var/lib/corosync` and `/var/log/pacemaker`, refuse to start if a cluster runs or
a CIB exists there, and remove every file they created in them afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from support.guests import HALT, boot_image, domain_xml
from support.netns import run
from support.processes import stop_all
from support.waiting import until

NODE = "kvmxt-node1"
GHOST = "kvmxt-node2"  # a configured node that never runs: quorum needs it
STATE_DIRS = [Path("/var/lib/pacemaker/cib"), Path("/var/lib/pacemaker/pengine"),
              Path("/var/lib/pacemaker/blackbox"), Path("/var/lib/corosync"), Path("/var/log/pacemaker")]
CIB = STATE_DIRS[0] / "cib.xml"


def corosync_conf(nodes: int) -> str:
    entries = "".join(
        f"    node {{\n        ring0_addr: 127.0.0.{i}\n        name: {name}\n        nodeid: {i}\n    }}\n"
        for i, name in enumerate([NODE, GHOST][:nodes], start=1))
    return ("totem {\n    version: 2\n    cluster_name: kvmxt\n    transport: knet\n"
            "    crypto_cipher: none\n    crypto_hash: none\n}\n"
            f"nodelist {{\n{entries}}}\n"
            "quorum {\n    provider: corosync_votequorum\n}\n"
            "logging {\n    to_stderr: yes\n    to_syslog: no\n    to_logfile: no\n}\n")


class Cluster:
    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.conf = scratch / "corosync.conf"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.images: Path | None = None  # the VirtualDomain resources' disks and XML
        self.before = {d: set(os.listdir(d)) if d.is_dir() else None for d in STATE_DIRS}

    def start(self) -> None:
        self.conf.write_text(corosync_conf(1))
        log = (self.scratch / "corosync.log").open("wb")
        self.processes.append(subprocess.Popen(["corosync", "-f", "-c", str(self.conf)], stdout=log,
                                               stderr=subprocess.STDOUT))
        until("corosync quorate",
              lambda: subprocess.run(["corosync-quorumtool", "-p"], capture_output=True).returncode == 0, 30)
        pacemaker_log = (self.scratch / "pacemakerd.log").open("wb")
        self.processes.append(subprocess.Popen(["pacemakerd"], stdout=pacemaker_log,
                                               stderr=subprocess.STDOUT))
        until("a Pacemaker DC with quorum", self.has_dc, 90)
        run("crm_attribute", "--type", "crm_config", "--name", "stonith-enabled", "--update", "false")

    def has_dc(self) -> bool:
        done = subprocess.run(["crm_mon", "-1", "--output-as=xml"], capture_output=True, text=True)
        quorate_dc = f'name="{NODE}"' in done.stdout and 'with_quorum="true"' in done.stdout
        return done.returncode == 0 and quorate_dc

    def virtual_domain(self, resource: str, domain: str) -> Path:
        """A VirtualDomain resource managing a new KVM domain; returns the domain's XML file."""
        images = self.images = Path("/var/lib/libvirt/images") / f"kvm-exporter-tests-{self.scratch.name}"
        images.mkdir(mode=0o755, parents=True, exist_ok=True)
        xml = images / f"{domain}.xml"
        xml.write_text(domain_xml(domain, boot_image(images / f"{domain}.img", HALT)))
        self.add(f"""<primitive id="{resource}" class="ocf" provider="heartbeat" type="VirtualDomain">
  <instance_attributes id="{resource}-ia">
    <nvpair id="{resource}-config" name="config" value="{xml}"/>
    <nvpair id="{resource}-hv" name="hypervisor" value="qemu:///system"/>
    <nvpair id="{resource}-force" name="force_stop" value="true"/>
  </instance_attributes>
  <meta_attributes id="{resource}-meta"><nvpair id="{resource}-mt" name="migration-threshold" value="3"/>
  </meta_attributes>
  <operations>
    <op id="{resource}-mon" name="monitor" interval="2s" timeout="30s"/>
    <op id="{resource}-start" name="start" interval="0" timeout="60s"/>
    <op id="{resource}-stop" name="stop" interval="0" timeout="60s"/>
  </operations>
</primitive>""")
        return xml

    def add(self, primitive: str) -> None:
        run("cibadmin", "--create", "-o", "resources", "--xml-text", primitive)

    def remove(self, resource: str) -> None:
        """Stop the resource, then delete it: an orphan's stop lacks its parameters. (No
        cleanup first: it forgets the history, and the resource looks stopped until probed.)"""
        subprocess.run(["crm_resource", "--clear", "--resource", resource], capture_output=True)
        run("crm_resource", "--resource", resource, "--meta", "--set-parameter", "target-role",
            "--parameter-value", "Stopped")
        until(f"{resource} stopped", lambda: f'id="{resource}"' in (xml := self.status()) and
              not _active(xml, resource), 90)
        run("crm_resource", "--delete", "--resource", resource, "-t", "primitive")

    def status(self) -> str:
        return subprocess.run(["crm_mon", "-1", "--output-as=xml", "--inactive"], capture_output=True,
                              text=True).stdout

    def set_option(self, name: str, value: str) -> None:
        run("crm_attribute", "--type", "crm_config", "--name", name, "--update", value)

    def set_nodes(self, nodes: int) -> None:
        """Rewrite the nodelist (1: this node alone, 2: with a node that never runs) and reload."""
        self.conf.write_text(corosync_conf(nodes))
        run("corosync-cfgtool", "-R")

    def stop(self) -> None:
        stop_all(self.processes, 60)  # pacemakerd first: it stops the resources
        self.remove_state()

    def remove_state(self) -> None:
        for directory, before in self.before.items():
            if not directory.is_dir():
                continue
            if before is None:  # a directory the cluster created: leave it, empty of our files
                before = set()
            for name in set(os.listdir(directory)) - before:
                path = directory / name
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
        if self.images is not None:
            for xml in self.images.glob("*.xml"):  # a domain the cluster failed to stop
                subprocess.run(["virsh", "-c", "qemu:///system", "destroy", xml.stem], capture_output=True)
            shutil.rmtree(self.images, ignore_errors=True)


def _active(crm_mon: str, resource: str) -> bool:
    start = crm_mon.find(f'<resource id="{resource}"')
    return start >= 0 and 'active="true"' in crm_mon[start:crm_mon.find(">", start)]


def refusal() -> str:
    """Why a test cluster must not start here ("" when it may)."""
    for name in ("corosync", "pacemakerd"):
        if any(p.info["name"] == name for p in psutil.process_iter(["name"])):
            return f"a {name} already runs on this machine: the tests do not touch a real cluster"
    if CIB.exists():
        return f"{CIB} exists: the tests do not touch a real cluster's CIB"
    if shutil.which("pacemakerd") is None or shutil.which("corosync") is None:
        return "corosync/pacemaker are not installed (tests/run.sh installs them)"
    return ""


@contextmanager
def running_cluster(scratch: Path) -> Iterator[Cluster]:
    cluster = Cluster(scratch)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
