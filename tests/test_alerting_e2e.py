"""Every fault id of the taxonomy, end to end: inject the fault, a real Prometheus scrapes the
real exporter every second and evaluates the shipped rules (time compressed 60x: a minute
of the rules passes in a second), a real Alertmanager with the example routing notifies a
webhook; the alert must arrive with its labels, receiver and runbook URL, and resolve once
the fault is removed.

Six exporters: A reads copies of the fixture trees and fake smartctl/zpool/iscsiadm/drbdsetup
(hardware, KVM readiness, iSCSI, ZFS, md, DRBD); B reads this machine (libvirtd domains,
kernel log, /proc, a copy of /etc/libvirt); C reads a network namespace the test builds; D
reads libvirtd through a proxy that the test cuts (LibvirtDown); E reads the session's real
corosync + Pacemaker cluster (quorum lost for real, a ban left behind); F probes a
namespace over a veth pair (loss from an iptables `statistic` DROP rule).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import libvirt
import pytest
from support import cgroups
from support.alerting_stack import alerting_stack, generate_rules
from support.bundle import ALERTS, FAULTS
from support.cluster import NODE, Cluster
from support.domstats_fixtures import FIXTURES
from support.guests import DISK_IO, SPIN, file_disk
from support.images import damage_refcount_table, qcow2
from support.libvirt_proxy import LibvirtProxy
from support.netns import Netns, run
from support.scrape import Exporter, exporter, free_port, only, serving
from support.smart_fakes import FAKE as FAKE_SMARTCTL
from support.smart_fakes import build_fake_smartctl
from support.storage_fakes import build_fake_storage

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (cgroups, netns, libvirtd)")

@dataclass
class Fault:
    fault: str
    alertname: str
    instance: str
    labels: dict[str, str]
    inject: Callable[[], None]
    remove: Callable[[], None]
    receiver: str = ""


@dataclass
class Lab:
    """Everything the faults touch, torn down by the ExitStack."""

    tmp: Path
    stack: ExitStack
    faults: list[Fault] = field(default_factory=list)


def replace_in(path: Path, old: str, new: str) -> Callable[[], None]:
    def edit() -> None:
        text = path.read_text()
        assert old in text, (path, old)
        path.write_text(text.replace(old, new))

    return edit


NVME_LOG = "nvme_smart_health_information_log"


def edit_json(path: Path, keys: tuple[str, ...], value: object) -> Callable[[], None]:
    def edit() -> None:
        data = json.loads(path.read_text())
        inner = data
        for key in keys[:-1]:
            inner = inner[key]
        assert keys[-1] in inner, (path, keys)
        inner[keys[-1]] = value
        path.write_text(json.dumps(data))

    return edit


def fixture_exporter(lab: Lab) -> tuple[str, list[Fault]]:
    """Exporter A over copies of the fixture trees, with the hardware/storage faults."""
    sysfs, procfs, rootfs = lab.tmp / "sys", lab.tmp / "proc", lab.tmp / "rootfs"
    shutil.copytree(FIXTURES / "sysfs" / "sys", sysfs, symlinks=True)
    shutil.copytree(FIXTURES / "procfs", procfs)
    shutil.copytree(FIXTURES / "rootfs", rootfs)
    (lab.tmp / "smart-fake").mkdir()
    smart = build_fake_smartctl(lab.tmp / "smart-fake", hang=False)
    storage, storage_flags = build_fake_storage(lab.tmp)
    env = {**os.environ, "FAKE_SMARTCTL_DIR": str(smart), "FAKE_STORAGE_DIR": str(storage)}
    running = lab.stack.enter_context(
        exporter(
            *only("thermal", "edac", "smart", "kvm", "iscsi", "zfs", "mdraid", "drbd"),
            f"--path.sysfs={sysfs}",
            f"--path.procfs={procfs}",
            f"--path.rootfs={rootfs}",
            f"--smartctl.path={FAKE_SMARTCTL}",
            "--smartctl.interval=1s",
            "--zfs.interval=1s",
            "--iscsiadm.interval=1s",
            "--drbd.interval=1s",
            *storage_flags,
            env=env,
        )
    )
    instance = running.url.removeprefix("http://")
    zone = sysfs / "devices" / "virtual" / "thermal" / "thermal_zone1" / "temp"
    ue = sysfs / "devices" / "system" / "edac" / "mc" / "mc0" / "ue_count"
    session = sysfs / "devices" / "platform" / "host3" / "session1" / "iscsi_session" / "session1" / "state"
    healthy_disk = (smart / "devices" / "sdb.json").read_text()
    scsi, nvme = smart / "devices" / "sdc.json", smart / "devices" / "nvme0.json"
    status = storage / "zpool" / "status.json"
    pools = json.loads(status.read_text())
    degraded = json.loads(status.read_text())
    degraded["pools"]["zpool-hdd"]["state"] = "DEGRADED"
    tun = rootfs / "dev" / "net" / "tun"
    tun_content = tun.read_bytes()
    drbd = storage / "drbdsetup" / "status.json"
    drbd_healthy = drbd.read_text()
    drbd_peer = {"resource": "1-single-0", "peer_node_id": "1", "peer": "SLE15-sp1-gm-drbd1145296-node1"}
    return instance, [
        Fault(
            "cpu_overheat",
            "HostThermalZoneCritical",
            instance,
            {"zone": "1"},
            lambda: zone.write_text("103000\n"),
            lambda: zone.write_text("67000\n"),
        ),
        Fault(
            "memory_ecc",
            "HostMemoryUncorrectableErrors",
            instance,
            {"controller": "0"},
            lambda: ue.write_text("6\n"),
            lambda: None,
        ),  # a counter: resolves when its window passes
        Fault(
            "disk_smart",
            "SmartDeviceFailing",
            instance,
            {"device": "/dev/sdb"},
            lambda: shutil.copy(
                FIXTURES / "smartctl" / "scrutiny" / "smart-fail2.json", smart / "devices" / "sdb.json"
            ),
            lambda: (smart / "devices" / "sdb.json").write_text(healthy_disk),
        ),
        Fault("disk_smart", "SmartTemperatureAboveDriveLimit", instance, {"device": "/dev/sdc"},
              edit_json(scsi, ("temperature", "current"), 75),
              edit_json(scsi, ("temperature", "current"), 34)),
        Fault("disk_smart", "SmartNvmeSpareLow", instance, {"device": "/dev/nvme0"},
              edit_json(nvme, (NVME_LOG, "available_spare"), 5),
              edit_json(nvme, (NVME_LOG, "available_spare"), 99)),
        # a counter: two more media errors; it resolves when its window passes
        Fault("disk_smart", "SmartNvmeMediaErrorsGrowing", instance, {"device": "/dev/nvme0"},
              edit_json(nvme, (NVME_LOG, "media_errors"), 9), lambda: None),
        Fault(
            "kmod_failure",
            "KvmPrerequisiteMissing",
            instance,
            {"check": "tun", "reason": "not_available"},
            tun.unlink,
            lambda: tun.write_bytes(tun_content),
        ),
        Fault(
            "iscsi_session",
            "IscsiSessionNotLoggedIn",
            instance,
            {"sid": "1"},
            lambda: session.write_text("FAILED\n"),
            lambda: session.write_text("LOGGED_IN\n"),
        ),
        Fault(
            "zfs_pool",
            "ZfsPoolNotOnline",
            instance,
            {"pool": "zpool-hdd"},
            lambda: status.write_text(json.dumps(degraded)),
            lambda: status.write_text(json.dumps(pools)),
        ),
        Fault(
            "raid_degraded",
            "MdRaidDegraded",
            instance,
            {"device": "md3"},
            replace_in(procfs / "mdstat", "[8/8] [UUUUUUUU]", "[8/7] [UUUUUUU_]"),
            replace_in(procfs / "mdstat", "[8/7] [UUUUUUU_]", "[8/8] [UUUUUUUU]"),
        ),
        Fault("replication_lag", "DrbdDisconnected", instance, {**drbd_peer, "state": "StandAlone"},
              edit_json(drbd, (0, "connections", 0, "connection-state"), "StandAlone"),
              lambda: drbd.write_text(drbd_healthy)),
    ]


def cluster_exporter(lab: Lab, cluster: Cluster) -> tuple[str, list[Fault]]:
    """Exporter E over the session's real corosync + Pacemaker cluster: quorum lost for real
    (a second node in the nodelist that never runs), a ban left behind on a Dummy resource."""
    cluster.add('<primitive id="dummy" class="ocf" provider="pacemaker" type="Dummy">'
                '<operations><op id="dummy-mon" name="monitor" interval="5s"/></operations></primitive>')
    lab.stack.callback(cluster.remove, "dummy")
    # whatever the test's outcome, the session's cluster is left quorate and without the ban
    lab.stack.callback(run, "crm_resource", "--resource", "dummy", "--clear")
    lab.stack.callback(cluster.set_nodes, 1)
    # every 2 s: crm_mon and cibadmin cost the cluster's daemons CPU the busy VMs here need
    running = lab.stack.enter_context(exporter(*only("pacemaker", "corosync"), "--pacemaker.interval=2s",
                                               "--corosync.interval=2s"))
    instance = running.url.removeprefix("http://")
    ban = ["crm_resource", "--resource", "dummy"]
    return instance, [
        Fault("cluster_quorum", "ClusterQuorumLost", instance, {},
              lambda: cluster.set_nodes(2), lambda: cluster.set_nodes(1)),
        Fault("ha_resource", "HaResourceBanLeftover", instance,
              {"constraint": f"cli-ban-dummy-on-{NODE}", "kind": "cli-ban"},
              lambda: run(*ban, "--ban", "--node", NODE), lambda: run(*ban, "--clear")),
    ]


def host_exporter(lab: Lab, domains) -> tuple[str, list[Fault]]:  # type: ignore[no-untyped-def]
    """Exporter B over this machine: real domains, kernel log, /proc, a copy of /etc/libvirt."""
    config = lab.tmp / "libvirt-config"
    shutil.copytree(FIXTURES / "libvirt-config", config)
    (config / "qemu" / "broken.xml").unlink()
    running = lab.stack.enter_context(
        exporter(
            *only("libvirt", "kernel", "config", "storage", "host", "libvirt_networks"),
            f"--libvirt.config-dir={config}",
            "--qemu-img.check-interval=1s",
            "--libvirt.snapshot-interval=1s",
        )
    )
    instance = running.url.removeprefix("http://")
    # autostart: its crashes count against its availability SLO
    crash = domains.create("e2ecrash", persistent=True, autostart=True)
    image = qcow2(domains.tmp_path / "e2e.qcow2")
    pristine = image.read_bytes()
    disks = domains.create("e2edisk", extra_devices=file_disk(image, "vdb"))
    old = domains.create("e2esnap", persistent=True, start=False)
    busy: list[libvirt.virDomain] = []
    groups: list[Path] = []

    def kill_qemu() -> None:
        pid = int(Path(f"/run/libvirt/qemu/{crash.name()}.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while crash.isActive():  # libvirt reaps the dead QEMU, then the domain can start again
            assert time.monotonic() < deadline, "the killed domain still runs"
            time.sleep(0.1)

    def crash_loop() -> None:
        for _ in range(4):  # after VmCrashed's kill: 5 crashes, more than the default 3
            crash.create()
            kill_qemu()

    neighbours: list[libvirt.virDomain] = []
    steal_name, slow_name = domains.name("e2esteal"), domains.name("e2eslow")

    def noisy_neighbours() -> None:
        """Always-busy vCPUs pinned to one host CPU: the spinning ones wait half the time or
        more (steal), whatever the disk reader does. That one reads and writes its disk,
        throttled to 2 IOPS: its requests queue."""
        neighbours.append(domains.create(name=steal_name, program=SPIN))
        neighbours.append(domains.create(name=slow_name, program=DISK_IO))
        neighbours.append(domains.create(name=domains.name("e2ehog"), program=SPIN))
        last = tuple(cpu == os.cpu_count() - 1 for cpu in range(os.cpu_count() or 1))
        for dom in neighbours:
            dom.pinVcpu(0, last)  # virsh vcpupin
        neighbours[1].setBlockIoTune("vda", {"total_iops_sec": 2}, libvirt.VIR_DOMAIN_AFFECT_LIVE)

    def quiet_neighbours() -> None:
        for dom in neighbours:
            dom.destroy()

    # a dir pool on a 4 MiB tmpfs, filled, and one stopped
    full_dir, stopped_dir = lab.tmp / "pool-full", lab.tmp / "pool-stopped"
    full_dir.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "kvmxt-e2e", str(full_dir)], check=True)
    lab.stack.callback(subprocess.run, ["umount", "-l", str(full_dir)], check=False)
    full, stopped = domains.pool("e2efull", full_dir), domains.pool("e2estop", stopped_dir)
    filler = full_dir / "filler"

    net = domains.network("e2enet")

    def fill_pool() -> None:
        filler.write_bytes(bytes(3900 << 10))
        full.refresh()  # libvirt counts a dir pool at refresh, as `virsh pool-refresh` does

    def drain_pool() -> None:
        filler.unlink()
        full.refresh()

    def oom() -> None:
        cgroup = cgroups.create("e2e", 32 << 20)
        groups.append(cgroup)
        lab.stack.callback(remove_cgroup)
        hog = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; sys.stdin.readline(); b = bytearray(256 << 20)\n"
                "for i in range(0, len(b), 4096): b[i] = 1",
            ],
            stdin=subprocess.PIPE,
        )
        (cgroup / "cgroup.procs").write_text(str(hog.pid))
        assert hog.stdin is not None
        hog.stdin.write(b"go\n")
        hog.stdin.close()
        assert hog.wait(60) == -9

    def remove_cgroup() -> None:
        if groups:
            cgroups.remove(groups.pop())

    def old_snapshot() -> None:
        definition = old.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        old.snapshotCreateXML(
            f"<domainsnapshot><name>ancient</name><creationTime>1700000000</creationTime>"
            f"<state>shutoff</state><memory snapshot='no'/>{definition}</domainsnapshot>",
            libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE,
        )

    def drop_snapshot() -> None:
        for snapshot in old.listAllSnapshots(0):
            snapshot.delete(libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY)

    def overcommit() -> None:
        busy.append(domains.create("e2ecpu", vcpus=2))

    def release() -> None:
        for dom in busy:
            dom.destroy()

    return instance, [
        Fault("process_oom", "HostOomKills", instance, {}, oom, remove_cgroup),
        Fault("domain_failure", "VmCrashed", instance, {"domain": crash.name()}, kill_qemu, lambda: None),
        # left shut off after its crashes; autostart off ends its SLO time (a planned stop)
        Fault("vm_health", "VmCrashLoop", instance, {"domain": crash.name()}, crash_loop,
              lambda: crash.setAutostart(0) and None),
        Fault("vm_health", "VmAvailabilityBudgetBurningFast", instance, {"domain": crash.name()},
              lambda: None, lambda: None),  # the crash loop's downtime burns the budget
        Fault("vm_health", "VmCpuStealHigh", instance, {"domain": steal_name},
              noisy_neighbours, quiet_neighbours),
        Fault("vm_health", "VmDiskLatencyHigh", instance, {"domain": slow_name, "target": "vda"},
              lambda: None, lambda: None),  # the throttled neighbour's
        Fault("virtual_disk", "StoragePoolNearlyFull", instance, {"pool": full.name()},
              fill_pool, drain_pool),
        Fault("vswitch_down", "LibvirtNetworkInactive", instance, {"network": net.name()},
              lambda: net.destroy() and None, lambda: net.create() and None),
        Fault("virtual_disk", "StoragePoolNotRunning", instance, {"pool": stopped.name()},
              lambda: stopped.destroy() and None, lambda: stopped.create() and None),
        Fault(
            "config_corruption",
            "LibvirtConfigCorrupt",
            instance,
            {"path": "qemu.conf"},
            lambda: (config / "qemu.conf").write_text((config / "qemu.conf").read_text() + "\nuser = root\n"),
            replace_in(config / "qemu.conf", "\nuser = root\n", ""),
        ),
        Fault(
            "virtual_disk",
            "VmDiskImageCorrupt",
            instance,
            {"domain": disks.name(), "target": "vdb"},
            lambda: damage_refcount_table(image),
            lambda: image.write_bytes(pristine),
        ),
        Fault(
            "recovery_point",
            "VmRecoveryPointTooOld",
            instance,
            {"domain": old.name()},
            old_snapshot,
            drop_snapshot,
        ),
        Fault("overcommit", "HostCpuOvercommitted", instance, {}, overcommit, release),
        # the disk fault's domain, paused too: one more running vCPU would keep the host overcommitted
        Fault("vm_health", "VmPausedTooLong", instance, {"domain": disks.name(), "reason": "user"},
              lambda: disks.suspend() and None, lambda: disks.resume() and None),
    ]


def netns_exporter(lab: Lab) -> tuple[str, list[Fault], Callable[[], Exporter]]:
    """Exporter C over a namespace with a bridge, an uplink veth and a route into a loop."""
    ns, r1, r2 = (Netns(hint) for hint in ("e2e", "e2er1", "e2er2"))
    for created in (ns, r1, r2):
        lab.stack.callback(created.close)
    for router in (r1, r2):
        for setting in (
            "net.ipv4.ip_forward=1",
            "net.ipv4.conf.all.send_redirects=0",
            "net.ipv4.conf.default.send_redirects=0",
            "net.ipv4.icmp_ratelimit=0",
        ):
            router.sysctl(setting)
    ns.ip("link", "add", "kvmxtbr", "type", "bridge")
    ns.ip("link", "add", "kvmxtup", "type", "veth", "peer", "name", "kvmxtpeer")
    ns.ip("link", "set", "kvmxtup", "master", "kvmxtbr")
    ns.ip("link", "add", "kvmxtst0", "type", "veth", "peer", "name", "kvmxtst1")  # the storm's own pair
    for link in ("kvmxtbr", "kvmxtup", "kvmxtpeer", "kvmxtst0", "kvmxtst1"):
        ns.ip("link", "set", link, "up")
    run("ip", "link", "add", "kvmxts0", "netns", ns.name, "type", "veth", "peer", "kvmxts1", "netns", r1.name)
    run("ip", "link", "add", "kvmxtr1", "netns", r1.name, "type", "veth", "peer", "kvmxtr2", "netns", r2.name)
    for where, address, link in (
        (ns, "169.254.10.1/30", "kvmxts0"),
        (r1, "169.254.10.2/30", "kvmxts1"),
        (r1, "169.254.20.1/30", "kvmxtr1"),
        (r2, "169.254.20.2/30", "kvmxtr2"),
    ):
        where.ip("addr", "add", address, "dev", link)
        where.ip("link", "set", link, "up")
    ns.ip("route", "add", "169.254.99.0/24", "via", "169.254.10.2")
    r1.ip("route", "add", "169.254.99.0/24", "via", "169.254.20.2")
    r2.ip("route", "add", "169.254.99.0/24", "via", "169.254.20.1")
    r2.ip("route", "add", "169.254.10.0/30", "via", "169.254.20.1")
    port = free_port()
    flags = [
        *only("network"),
        "--no-network.ethtool",
        f"--path.sysfs={ns.sysfs}",
        f"--path.procfs={ns.procfs}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]

    def start() -> Exporter:
        command = [sys.executable, "-m", "exporter", *flags]
        process = lab.stack.enter_context(serving(command, f"http://127.0.0.1:{port}/-/ready"))
        return Exporter(f"http://127.0.0.1:{port}", process)

    senders: list[subprocess.Popen[bytes]] = []

    def sender(program: str) -> Callable[[], None]:
        def begin() -> None:
            process = subprocess.Popen(["ip", "netns", "exec", ns.name, sys.executable, "-c", program])
            senders.append(process)
            lab.stack.callback(process.kill)

        return begin

    def stop_senders() -> None:
        for process in senders:
            process.kill()
            process.wait()

    loop = (
        "import socket, time\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "while True:\n    s.sendto(b'kvm-exporter e2e', ('169.254.99.1', 9))\n    time.sleep(0.05)\n"
    )
    storm = (
        "import socket, time\ns = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\ns.bind(('kvmxtst1', 0))\n"
        "frame = bytes.fromhex('ffffffffffff020000000001' '88b5') + b'kvm-exporter storm'.ljust(46)\n"
        "while True:\n    for _ in range(200):\n        s.send(frame)\n    time.sleep(0.1)\n"
    )
    instance = f"127.0.0.1:{port}"
    faults = [
        Fault(
            "vswitch_down",
            "BridgeUplinkDown",
            instance,
            {"bridge": "kvmxtbr"},
            lambda: ns.ip("link", "set", "kvmxtpeer", "down"),
            lambda: ns.ip("link", "set", "kvmxtpeer", "up"),
        ),
        Fault("routing_loop", "RoutingLoopSuspected", instance, {}, sender(loop), stop_senders),
        Fault("traffic_storm", "TrafficStorm", instance, {"device": "kvmxtst0"}, sender(storm), stop_senders),
    ]
    return instance, faults, start


def probe_exporter(lab: Lab) -> tuple[str, list[Fault]]:
    """Exporter F probing a namespace over a veth pair with link-local addresses, 10 probes a
    second; loss from an iptables `statistic` DROP rule on the namespace's side."""
    far = Netns("e2eprobe")
    lab.stack.callback(far.close)
    near_link, far_link = f"kvmxtph{far.name[-6:]}", f"kvmxtpf{far.name[-6:]}"
    run("ip", "link", "add", near_link, "type", "veth", "peer", far_link, "netns", far.name)
    run("ip", "addr", "add", "169.254.78.1/30", "dev", near_link)
    far.ip("addr", "add", "169.254.78.2/30", "dev", far_link)
    run("ip", "link", "set", near_link, "up")
    far.ip("link", "set", far_link, "up")
    running = lab.stack.enter_context(exporter(*only("probe"), "--probe.target=far=169.254.78.2",
                                               "--probe.interval=100ms", "--no-probe.auto-targets"))
    instance = running.url.removeprefix("http://")
    rule = ["INPUT", "-p", "icmp", "--icmp-type", "echo-request", "-m", "statistic", "--mode", "random",
            "--probability", "0.6", "-j", "DROP"]
    return instance, [Fault("network_latency", "NetworkProbeLossHigh", instance, {"target": "far",
                                                                                  "kind": "icmp"},
                            lambda: far.exec("iptables", "-A", *rule), lambda: far.exec("iptables", "-D",
                                                                                        *rule))]


def libvirt_exporter(lab: Lab) -> tuple[str, list[Fault]]:
    """Exporter D reads the real libvirtd through a proxy the test cuts (LibvirtDown)."""
    proxy = LibvirtProxy(lab.tmp / "libvirt-proxy.sock")
    lab.stack.callback(proxy.close)
    running = lab.stack.enter_context(exporter(*only("libvirt"), f"--libvirt.uri={proxy.uri}"))
    instance = running.url.removeprefix("http://")
    return instance, [Fault("kmod_failure", "LibvirtDown", instance, {}, proxy.cut, proxy.restore)]


def firing_alerts(prometheus: str) -> list[str]:
    with urllib.request.urlopen(f"{prometheus}/api/v1/alerts", timeout=10) as response:
        alerts = json.loads(response.read())["data"]["alerts"]
    found = sorted(
        f"{a['labels']['alertname']}{{{a['labels'].get('instance')}}}:{a['state']}" for a in alerts
    )
    query = urllib.parse.quote("max_over_time(scrape_duration_seconds[1m]) or min_over_time(up[1m])")
    with urllib.request.urlopen(f"{prometheus}/api/v1/query?query={query}", timeout=10) as response:
        scrapes = json.loads(response.read())["data"]["result"]
    return found + [
        f"{s['metric'].get('__name__', 'scrape')}{s['metric']['instance']}={s['value'][1]}" for s in scrapes
    ]


def expected_receiver(alertname: str) -> str:
    alert = next(a for a in ALERTS if a.name == alertname)
    receiver = {"critical": "pager", "warning": "tickets", "info": "chat"}[alert.severity]
    return (
        f"{alert.layer}-{receiver}"
        if alert.layer in ("storage", "network") and alert.severity != "info"
        else receiver
    )


def test_every_fault_reaches_alertmanager_and_resolves(tmp_path: Path, domains, ha_cluster) -> None:  # type: ignore[no-untyped-def]
    # A one-hour crash-loop window (a minute, compressed): its crashes age out within the test.
    rules = generate_rules(tmp_path / "bundle", 60, {"thresholds": {"storm_packets_per_second_floor": 500,
                                                                      "vm_crash_loop_window": "1h"}})
    with ExitStack() as stack:
        lab = Lab(tmp_path, stack)
        a, hardware = fixture_exporter(lab)
        b, host = host_exporter(lab, domains)
        c, network, start_c = netns_exporter(lab)
        d, libvirt_faults = libvirt_exporter(lab)
        e, cluster_faults = cluster_exporter(lab, ha_cluster)
        f, probe_faults = probe_exporter(lab)
        exporter_c = start_c()
        faults = [*hardware, *host, *network, *libvirt_faults, *cluster_faults, *probe_faults]
        # exporter_health: below; remediation: test_remediation_e2e.py, with real remediators
        covered = {f.fault for f in faults} | {"exporter_health", "remediation"}
        assert covered == set(FAULTS), "a fault id without a case"
        monitoring = stack.enter_context(alerting_stack(tmp_path, [a, b, c, d, e, f], rules))
        # Healthy first, for longer than the longest compressed window (15 s): counters need
        # samples from before the fault, and the new-series rules need `up offset 15s`.
        time.sleep(20)
        for fault in faults:
            fault.inject()
        wanted = [
            ("firing", f.alertname, {"instance": f.instance, "fault": f.fault, **f.labels}) for f in faults
        ]
        missing = monitoring.hook.wait(wanted, 180)  # steal can take near 120 s on 2 busy CPUs
        assert not missing, f"never fired: {missing}; Prometheus has {firing_alerts(monitoring.prometheus)}"
        for fault in faults:
            note = monitoring.hook.find("firing", fault.alertname, instance=fault.instance, **fault.labels)
            assert note is not None
            assert note.receiver == expected_receiver(fault.alertname), fault.alertname
            assert note.annotations["runbook_url"].endswith(f"/alerts/runbooks/{fault.alertname}.md")
            assert fault.instance in note.annotations["description"]
        for fault in faults:
            fault.remove()
        resolved = [("resolved", f.alertname, {"instance": f.instance, **f.labels}) for f in faults]
        missing = monitoring.hook.wait(resolved, 120)
        assert not missing, f"never resolved: {missing}"

        # exporter_health: the netns exporter goes away, then comes back
        exporter_c.process.terminate()
        exporter_c.process.wait(10)
        down = {"instance": c, "fault": "exporter_health"}
        assert not monitoring.hook.wait([("firing", "KvmExporterDown", down)], 60), "exporter down not seen"
        start_c()
        assert not monitoring.hook.wait([("resolved", "KvmExporterDown", down)], 60), "never resolved"
