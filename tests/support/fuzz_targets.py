"""Every parser of the exporter as a fuzz target, seeded with the real captures in fixtures/.

A target's inputs are its seeds cut anywhere, with a slice replaced by random text or bytes
that are not UTF-8 (decoded as the exporter decodes them), or random text. The property: the
parser returns, or raises its documented ValueError; nothing else escapes and nothing hangs.
`tests/test_parser_fuzz.py` runs each target briefly; `benchmarks/fuzz_parsers.py` runs each
for 10,000+ examples and prints the counts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from exporter import procfs, qemu_pids
from exporter.collectors import libvirt_networks
from exporter.collectors.config import files as libvirt_config
from exporter.collectors.corosync import parse as corosync
from exporter.collectors.drbd import parse as drbd
from exporter.collectors.iscsi import sessions as iscsi
from exporter.collectors.kernel import kmsg
from exporter.collectors.kvm import readiness as kvm_ready
from exporter.collectors.libvirt import tuning
from exporter.collectors.mdraid import mdstat as mdraid
from exporter.collectors.network import netlink, procnet
from exporter.collectors.ovs import vsctl as ovs
from exporter.collectors.pacemaker import parse as pacemaker
from exporter.collectors.probe import targets as probe_targets
from exporter.collectors.qemu import logs as qemu_logs
from exporter.collectors.smart import report as smart
from exporter.collectors.storage import images as vdisk
from exporter.collectors.zfs import parse as zfs
from exporter.libvirt import capabilities, domxml

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@dataclass(frozen=True)
class Target:
    name: str
    parse: Callable[[str], Any]
    seeds: tuple[str, ...]  # paths under fixtures/, globs allowed


def _text(path: Path) -> str:
    return path.read_bytes().decode("utf-8", "surrogateescape")


def seed_texts(target: Target) -> list[str]:
    texts = [_text(p) for pattern in target.seeds for p in sorted(FIXTURES.glob(pattern)) if p.is_file()]
    if not texts:
        raise AssertionError(f"fuzz target {target.name}: no seed matches {target.seeds}")
    return texts


def _kmsg(text: str) -> Any:
    record = kmsg.parse_record(text.encode("utf-8", "surrogateescape"))
    return kmsg.classify(record.message) if record is not None else None


def _qemu_argv(text: str) -> Any:
    argv = text.split("\0")
    return qemu_pids.guest_name(argv), qemu_pids.guest_memory_bytes(argv)


def _check(text: str) -> Any:
    return vdisk.parse_check(2, text, 1.0)


TARGETS = [
    Target("procnet.snmp", procnet.parse_snmp, ("procfs/net/snmp",)),
    Target("procnet.dev", procnet.parse_net_dev, ("procfs/net/dev",)),
    Target("procnet.softnet", procnet.parse_softnet, ("procfs/net/softnet_stat",)),
    Target("netlink.link_dump", lambda text: netlink.parse_link_dump(text.encode("utf-8", "surrogateescape")),
           ("netlink/*.bin",)),
    Target("procfs.vmstat", procfs.parse_vmstat, ("procfs/vmstat",)),
    Target("procfs.cpu_seconds", lambda text: procfs.parse_cpu_seconds(text, 100), ("procfs/stat",)),
    Target("procfs.loadavg", procfs.parse_loadavg, ("procfs/loadavg",)),
    Target("procfs.meminfo", procfs.parse_meminfo, ("procfs/meminfo",)),
    Target("procfs.pressure", procfs.parse_pressure, ("procfs/pressure/*",)),
    Target("procfs.pid_stat", procfs.parse_pid_stat, ("procfs/pid-qemu/stat",)),
    Target("procfs.pid_io", procfs.parse_pid_io, ("procfs/pid-qemu/io",)),
    Target("procfs.boot_time", procfs.parse_boot_time, ("procfs/stat",)),
    Target("kvm_ready.cpu_flags", kvm_ready.cpu_flags, ("procfs/cpuinfo",)),
    Target("mdraid.mdstat", mdraid.parse_mdstat, ("procfs/mdstat",)),
    Target("ovs.vsctl", ovs.parse_vsctl, ("ovs/*.json",)),
    Target("zfs.status_json", zfs.parse_status_json, ("zfs/*status-j*.json", "zfs-fake/zpool/status.json")),
    Target("zfs.status_text", zfs.parse_status_text, ("zfs/danjl1100-*.txt", "zfs/jc-zpool-status-*.out")),
    Target("zfs.get", zfs.parse_get, ("zfs/*zpool-get*.txt", "zfs-fake/zpool/get.txt")),
    Target("zfs.snapshots", zfs.parse_snapshots, ("zfs-fake/zfs/snapshots.txt",)),
    Target("zfs.kstat", zfs.parse_kstat, ("procfs/spl/kstat/zfs/arcstats",)),
    Target("zfs.kstat_io", zfs.parse_kstat_io, ("procfs/spl/kstat/zfs/*/iostats",)),
    Target("iscsi.session_stats", iscsi.parse_session_stats, ("iscsiadm/session-stats.txt",)),
    Target("iscsi.node_record", iscsi.parse_node_record, ("rootfs/etc/iscsi/nodes/*/*/*",)),
    Target("vdisk.check", _check, ("qemu-img/*.json",)),
    Target("vdisk.mountinfo", vdisk.parse_mountinfo, ("procfs/mountinfo",)),
    Target("smart.json", smart.parse_json_object, ("smartctl/*/*.json",)),
    Target("libvirt_config.conf", libvirt_config.parse_libvirt_conf, ("libvirt-config/*.conf",)),
    Target("libvirt_config.domain_xml", libvirt_config.normalized_domain_xml, ("libvirt-config/qemu/*.xml",)),
    Target("domxml.domain", domxml.parse_domain_xml, ("libvirt/test-node.xml", "libvirt-config/qemu/*.xml")),
    Target("capabilities.kvm_usable", capabilities.kvm_usable, ("libvirt/capabilities-*.xml",)),
    Target("tuning.cpuset_size", tuning.cpuset_size, ("libvirt/cpusets.txt",)),
    Target("libvirt_networks.network_xml", libvirt_networks.parse_network_xml, ("libvirt/network-*.xml",)),
    Target("kmsg.record", _kmsg, ("kernel-log/*",)),
    Target("qemu_logs.classify_line", qemu_logs.classify_line, ("kernel-log/*",)),
    Target("qemu_pids.command_line", _qemu_argv, ("kernel-log/own-kmsg-qemu-memcg-oom.kmsg",)),
    Target("qemu_pids.pidfile", qemu_pids.parse_pidfile, ("procfs/loadavg",)),
    Target("probe.peers", probe_targets.parse_peers, ("cluster/corosync/*quorumtool*", "procfs/net/route")),
    Target("probe.default_gateways", probe_targets.default_gateways,
           ("procfs/net/route", "procfs/net/ipv6_route")),
    Target("pacemaker.crm_mon", pacemaker.parse_crm_mon, ("cluster/crm_mon/*.xml",)),
    Target("pacemaker.cib_configuration", pacemaker.parse_cib_configuration, ("cluster/cib/*.xml",)),
    Target("corosync.quorumtool", corosync.parse_quorumtool, ("cluster/corosync/*quorumtool*",)),
    Target("corosync.cfgtool", corosync.parse_cfgtool, ("cluster/corosync/*cfgtool*",)),
    Target("drbd.status_json", drbd.parse_status_json, ("cluster/drbd/*.json",)),
    Target("drbd.events2", drbd.parse_events2, ("cluster/drbd/*events2*",)),
    Target("drbd.proc", drbd.parse_proc_drbd, ("cluster/drbd/*proc-drbd*",)),
]


def inputs(seeds: list[str]) -> st.SearchStrategy[str]:
    """A seed cut anywhere, spliced with random text or with bytes that are not UTF-8, or
    random text; long seeds are cut to their first 64 KiB so that an example stays cheap."""
    seed = st.sampled_from([s[: 64 << 10] for s in seeds])
    raw = st.binary(max_size=24).map(lambda b: b.decode("utf-8", "surrogateescape"))
    splice = st.one_of(st.text(max_size=24), raw)

    def mutate(args: tuple[str, int, int, str]) -> str:
        text, at, length, insert = args
        at %= len(text) + 1
        return text[:at] + insert + text[at + length:]

    mutated = st.tuples(seed, st.integers(0, 1 << 16), st.integers(0, 64), splice).map(mutate)
    cut = st.tuples(seed, st.integers(0, 1 << 16)).map(lambda t: t[0][: t[1] % (len(t[0]) + 1)])
    return st.one_of(mutated, cut, st.text(max_size=300), raw)


def run_one(target: Target, text: str) -> None:
    """The property, for one input: returns, or raises its ValueError (UnicodeError is one)."""
    with contextlib.suppress(ValueError):
        target.parse(text)


def available(target: Target) -> bool:
    return any(p.is_file() for pattern in target.seeds for p in FIXTURES.glob(pattern))



