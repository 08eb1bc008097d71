"""Every metric family the exporter can emit, built from captured data by each collector's
pure family builders: what the README, the rules and the dashboards are checked against."""

from __future__ import annotations

import json
import re
from pathlib import Path

from exporter.collector import Outcome, outcome_families
from exporter.collectors.cluster import Answers, present_family, status_families
from exporter.collectors.config import ConfigSnapshot, config_families
from exporter.collectors.config.files import ConfigFile
from exporter.collectors.corosync import link_families as corosync_link_families
from exporter.collectors.corosync import quorum_families
from exporter.collectors.corosync.parse import parse_cfgtool, parse_quorumtool
from exporter.collectors.drbd import resource_families as drbd_resource_families
from exporter.collectors.drbd.parse import parse_proc_drbd
from exporter.collectors.drbd.parse import parse_status_json as parse_drbd_json
from exporter.collectors.edac import edac_families
from exporter.collectors.edac.reader import read_edac
from exporter.collectors.guest_agent import Report, agent_families, parse_guest_info
from exporter.collectors.host import host_families
from exporter.collectors.iscsi import IscsiSnapshot, IscsiStatsPoller, session_families, stats_families
from exporter.collectors.iscsi.sessions import NodeRecord, parse_session_stats, read_sessions
from exporter.collectors.kernel import KernelEvents, event_families, vmstat_families
from exporter.collectors.kernel.kmsg import classify
from exporter.collectors.kvm import readiness_families
from exporter.collectors.kvm.readiness import read_readiness
from exporter.collectors.libvirt.families import build_families
from exporter.collectors.libvirt.fields import BLOCK_FIELDS, DOMAIN_FIELDS, JOB_FIELDS
from exporter.collectors.mdraid import MdSnapshot, md_families
from exporter.collectors.mdraid.mdstat import MdSysfs, parse_mdstat
from exporter.collectors.network import (
    bond_families,
    bridge_families,
    broadcast_family,
    link_families,
    procnet_families,
)
from exporter.collectors.network.links import Bridge, DeviceFilter, Links, read_links
from exporter.collectors.network.procnet import read_procnet
from exporter.collectors.ovs import ovs_families
from exporter.collectors.ovs.vsctl import parse_vsctl
from exporter.collectors.pacemaker import (
    constraint_families,
    failure_families,
    node_families,
    summary_families,
)
from exporter.collectors.pacemaker import resource_families as pacemaker_resource_families
from exporter.collectors.pacemaker.parse import parse_cib_configuration, parse_crm_mon
from exporter.collectors.probe import probe_families
from exporter.collectors.probe.prober import Prober
from exporter.collectors.probe.targets import Target
from exporter.collectors.process import ProcessSample, process_families
from exporter.collectors.qemu import log_families
from exporter.collectors.qemu import process_families as qemu_process_families
from exporter.collectors.qemu.processes import QemuProcess
from exporter.collectors.smart.report import DeviceResult, parse_json_object, smart_families
from exporter.collectors.storage import Disk, Pool, StorageSnapshot, disk_families
from exporter.collectors.storage import pool_families as storage_pool_families
from exporter.collectors.storage import snapshot_families as vdisk_snapshot_families
from exporter.collectors.storage.images import CheckResult
from exporter.collectors.thermal import thermal_families
from exporter.collectors.thermal.reader import read_thermal
from exporter.collectors.zfs import ZfsState, kstat_families
from exporter.collectors.zfs import pool_families as zfs_pool_families
from exporter.collectors.zfs import snapshot_families as zfs_snapshot_families
from exporter.collectors.zfs.parse import parse_get, parse_status_json, read_kstats
from exporter.http import build_info
from exporter.libvirt.domxml import parse_domain_xml
from exporter.libvirt.snapshot import DomainRecord, LibvirtSnapshot
from exporter.metrics import Family, gauge, render
from exporter.poller import Poller
from exporter.procfs import read_host
from exporter.qemu_pids import PidIndex
from exporter.remediator.telemetry import Telemetry
from exporter.settings import Settings
from exporter.sysfs import SysfsReader
from support.domstats_fixtures import FIXTURES, HOST, recorded_domains


def remediator_sample_names() -> set[str]:
    """The sample names kvm-remediator's registry exposes (with a breaker open, to include it)."""
    telemetry = Telemetry("dry-run")
    telemetry.watch_breakers(lambda: [("hv1:9978", "start_domain", "web-1")])
    telemetry.actions.labels("start_domain", "failed").inc()
    return {sample.name for family in telemetry.registry.collect() for sample in family.samples}


def every_family_name() -> set[str]:
    full = DomainRecord("all", "u", {key: 1 for key in DOMAIN_FIELDS} | {"state.state": 3}
                        | {f"block.0.{k}": 1 for k in BLOCK_FIELDS} | {"block.0.name": "vda"},
                        job={"type": 2, "operation": 5, **{k: 1 for k in JOB_FIELDS}},
                        disk_errors={"vda": 2})
    tuned = DomainRecord("tuned", "u2", {"state.state": 1}, xml=parse_domain_xml(
        "<domain><vcpu cpuset='0-1'>1</vcpu><cputune><emulatorpin cpuset='0'/>"
        "<iothreadpin iothread='1' cpuset='1'/></cputune><blkiotune><weight>200</weight></blkiotune>"
        "<devices><disk><target dev='vda'/><iotune><total_bytes_sec>1</total_bytes_sec>"
        "<total_iops_sec>1</total_iops_sec><total_bytes_sec_max>2</total_bytes_sec_max>"
        "<total_iops_sec_max>2</total_iops_sec_max></iotune></disk></devices></domain>"))
    domains = [*recorded_domains(), full, tuned]
    families = build_families(LibvirtSnapshot(True, HOST, domains,
                                              lifecycle_events={("all", "stopped", "failed"): 1}))
    families += process_families(ProcessSample(1, 1, 1, 1, 1, 1, 1))
    families += outcome_families([Outcome("x", True, 0.1, [])])
    families.append(build_info())
    sysfs = SysfsReader(FIXTURES / "sysfs" / "sys")
    families += thermal_families(read_thermal(sysfs)) + edac_families(read_edac(sysfs))
    captures = ("scrutiny/smart-fail2.json", "scrutiny/smart-nvme-failed.json", "scrutiny/smart-scsi.json")
    reports = [parse_json_object((FIXTURES / "smartctl" / c).read_text()) for c in captures]
    families += smart_families([
        DeviceResult(f"/dev/x{i}", up=False, error="timeout", last_success=1.0, report=report)
        for i, report in enumerate(reports)])
    families += readiness_families(read_readiness(Path("/"), Path("/sys"), Path("/proc")))
    families.append(gauge("smart_discovery_up", "x"))
    families[-1].add((), 1)
    events = KernelEvents()
    for line in ("Killed process 1 (kvm)", "EDAC MC0: 1 CE x", " error, dev sda, sector 1",
                 "connection1:0: detected conn error (1011)", "session1: session recovery timed out",
                 "kvm: disabled by bios"):
        event = classify(line)
        assert event is not None
        events.count(event, PidIndex())
    families += event_families(events) + vmstat_families({"oom_kill": 1})
    families += host_families(read_host(FIXTURES / "procfs", 100))
    recorded_agent = json.loads((FIXTURES / "libvirt" / "guestinfo-qemu-ga-7.2.json").read_text())
    families += agent_families({"d": Report(True, parse_guest_info(recorded_agent), 1.0)})
    families += qemu_process_families([QemuProcess("d", 1, 1, 1.0, 1.0, 1, 1, 1, 1, 1, 1, 1.0)])
    families += log_families({("d", "io_error"): 1}, True)
    families += config_families(ConfigSnapshot([ConfigFile("qemu.conf", "conf", (1, 1, 1), "", "", 1.0)],
                                               {"d": True}))
    links = read_links(SysfsReader(FIXTURES / "sysfs" / "sys"))
    dev = read_procnet(FIXTURES / "procfs").dev
    families += link_families(links, DeviceFilter(), dev) + bridge_families(
        Links(links.links, [Bridge("br", [links.links[0].device])], links.bonds)) + bond_families(links)
    families += procnet_families(read_procnet(FIXTURES / "procfs"))
    families.append(broadcast_family({("eth0", "rx_broadcast"): 1}, DeviceFilter()))
    families += ovs_families(parse_vsctl((FIXTURES / "ovs" / "ovs-vsctl-3.1-netdev.json").read_text()))
    families += storage_families() + cluster_families() + probe_sample_families()
    text = render(families)
    names = set(re.findall(r"^# TYPE (\S+)", text, re.M))
    histograms = re.findall(r"^# TYPE (\S+) histogram", text, re.M)  # queried by their samples
    return names | {h + suffix for h in histograms for suffix in ("_bucket", "_sum", "_count")}


def storage_families() -> list[Family]:
    arrays = parse_mdstat((FIXTURES / "procfs" / "mdstat").read_text())
    families = md_families(MdSnapshot([(a, MdSysfs("clean", 0, "idle", (1, 2))) for a in arrays]))
    degraded = FIXTURES / "zfs" / "bitranox-proxmox-zpool-status-j-json-int-DEGRADED.json"
    pools = parse_status_json(degraded.read_text())
    properties = parse_get((FIXTURES / "zfs-fake" / "zpool" / "get.txt").read_text())
    families += zfs_pool_families(ZfsState(pools=pools, properties=properties))
    families += zfs_snapshot_families({"rpool/vm": (1, 1.0)})
    families += kstat_families(read_kstats(FIXTURES / "procfs" / "spl" / "kstat" / "zfs"))
    sessions = read_sessions(SysfsReader(FIXTURES / "sysfs" / "sys"))
    families += session_families(IscsiSnapshot(sessions, [NodeRecord("t", "p", "default", "automatic")]))
    poller = IscsiStatsPoller(Settings(), lambda: ["1"])
    poller.stats = {"1": parse_session_stats((FIXTURES / "iscsiadm" / "session-stats.txt").read_text())}
    poller.errors = {"1": "timeout"}
    families += stats_families(sessions, poller)
    disk = Disk("d", "vda", "/x", "qcow2", True, True, True, "rpool/x")
    snapshot = StorageSnapshot([disk], {"d": (1, 1.0)}, [Pool("p", 2, 1, 1, 1, 1)])
    families += disk_families(snapshot, {("d", "vda"): ("/x", CheckResult("ok", 0, 0, 0, 1, 1.0))})
    families += vdisk_snapshot_families(snapshot) + storage_pool_families(snapshot)
    background = Poller("qemu-img", poller.poll, 1.0, 1.0)
    background.failed("timeout")
    return [*families, *background.families()]


def cluster_families() -> list[Family]:
    """Pacemaker (healthy with a failure, the CIB), corosync (knet), DRBD (JSON and 8.4)."""
    cluster = FIXTURES / "cluster"
    status = parse_crm_mon((cluster / "crm_mon" / "kvmxt_virtualdomain-failed-restarted.xml").read_text())
    cib = cluster / "cib" / "kvmxt_configuration_virtualdomain-ipaddr2.xml"
    config = parse_cib_configuration(cib.read_text())
    families = summary_families(status) + node_families(status) + failure_families(status)
    families += pacemaker_resource_families(status, {"havm": "kvmxt-havm"}, config)
    families += constraint_families(config.constraints + status.bans)
    answers = Answers(errors={"cibadmin": "timeout"}, last_success=1.0)
    for name in ("pacemaker", "corosync", "drbd"):
        families.append(present_family(name, name, True))
        families += status_families(name, name, name, answers, Poller(name, poller_noop, 1.0, 1.0))
    families += quorum_families(parse_quorumtool(
        (cluster / "corosync" / "pcs_test_quorumtool-p_not-quorate_qdevice.txt").read_text()))
    families += corosync_link_families(parse_cfgtool(
        (cluster / "corosync" / "ha_cluster_exporter_fake_corosync-cfgtool_ring-faulty.txt").read_text()))
    families += corosync_link_families(parse_cfgtool(
        (cluster / "corosync" / "kvmxt_cfgtool-s_knet_peer-disconnected.txt").read_text()))
    drbd = cluster / "drbd"
    healthy = drbd / "ha_cluster_exporter_fake_drbdsetup-status-json_2019-10-18.json"
    resources = parse_drbd_json(healthy.read_text())
    syncing = drbd / "pacemaker-doc_proc-drbd-8.4_syncsource.txt"
    resources += parse_proc_drbd(syncing.read_text())
    families += drbd_resource_families(resources, {("r0", "0")})
    source = gauge("drbd_source_info", "x", ["source"])
    source.add(("status-json",), 1)
    return [*families, source]


def probe_sample_families() -> list[Family]:
    prober = Prober([Target("gw", "192.0.2.1", 0, "gateway"), Target("portal", "192.0.2.5", 3260)], 1.0, 1.0,
                    (0.001, 0.01), "raw")
    prober.stats["gw"].sent = 2
    prober.stats["gw"].observe(0.0004)
    prober.stats["portal"].failures["refused"] = 1
    families = probe_families(prober)
    count = gauge("probe_targets", "x", ["source"])
    count.add(("flag",), 1)
    return [*families, count]


async def poller_noop() -> None:
    return None
