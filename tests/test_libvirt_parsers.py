"""Pure parsers on real libvirt data: captured elsewhere and recorded from QEMU here.

Faults: domain_failure, overcommit.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import libvirt
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from support.domstats_fixtures import (
    HOST,
    LIBVIRT_FIXTURES,
    parse_go_domain_stats,
    parse_virsh_domstats,
    recorded_domains,
)
from support.promtool import check_metrics
from support.scrape import Samples, parse_samples, series

from exporter.collectors.libvirt.families import build_families
from exporter.collectors.libvirt.fields import JOB_FIELDS
from exporter.collectors.libvirt.plans import StatsPlans
from exporter.collectors.libvirt.tuning import cpuset_size
from exporter.libvirt.domxml import CpuPinning, parse_domain_xml
from exporter.libvirt.shared import SharedLibvirt
from exporter.libvirt.snapshot import DomainRecord, LibvirtSnapshot
from exporter.libvirt.source import (
    DEFAULT_GROUPS,
    STATS_GROUPS,
    LibvirtSource,
    fresh_flags,
    parse_stats_groups,
)
from exporter.libvirt.states import reason_name, state_name
from exporter.metrics import render


def samples(snapshot: LibvirtSnapshot) -> Samples:
    return parse_samples(render(build_families(snapshot)))


def value(found: Samples, name: str, **labels: str) -> float:
    """Like scrape.get, but a missing series fails with its name and labels."""
    return found[(name, frozenset(labels.items()))]


def test_win11_virsh_capture() -> None:
    stats = parse_virsh_domstats((LIBVIRT_FIXTURES / "glances-virsh-domstats-win11.txt").read_text())
    found = samples(LibvirtSnapshot(True, HOST, [DomainRecord("win11", "u-1", stats["win11"])]))
    d = {"domain": "win11"}
    assert value(found, "kvm_domain_cpu_seconds_total", **d) == 1702.145606
    assert value(found, "kvm_domain_cpu_user_seconds_total", **d) == 1329.954143
    assert value(found, "kvm_domain_memory_maximum_bytes", **d) == 8388608 * 1024
    assert value(found, "kvm_domain_memory_rss_bytes", **d) == 8439116 * 1024
    assert value(found, "kvm_domain_vcpu_seconds_total", domain="win11", vcpu="0") == 955.26
    assert value(found, "kvm_domain_vcpu_delay_seconds_total", domain="win11", vcpu="0") == 1.305744538
    disk = {"domain": "win11", "target": "sda"}
    assert value(found, "kvm_domain_block_read_bytes_total", **disk) == 18509028864
    assert value(found, "kvm_domain_block_write_seconds_total", **disk) == 158.585666809
    assert value(found, "kvm_domain_block_capacity_bytes", **disk) == 137438953472
    nic = {"domain": "win11", "target": "vnet3"}
    assert value(found, "kvm_domain_interface_receive_drops_total", **nic) == 7
    assert value(found, "kvm_domain_interface_transmit_packets_total", **nic) == 35405
    vcpu0 = {"domain": "win11", "vcpu": "0"}
    assert value(found, "kvm_domain_vcpu_exits_total", **vcpu0) == 28094008
    assert value(found, "kvm_domain_vcpu_exits_by_reason_total", **vcpu0, reason="mmio") == 6536664
    assert value(found, "kvm_domain_vcpu_halt_poll_seconds_total", **vcpu0, result="fail") == 8.369146975
    assert value(found, "kvm_domain_vcpu_preemptions_total", **vcpu0, kind="reported") == 25322
    # KVM's gauges (`.cur`, e.g. guest_mode, blocking) and the vm group are not exported; the
    # dirtyrate group is (a measurement never started here)
    assert not any("guest_mode" in name or "blocking" in name for name, _ in found)
    assert value(found, "kvm_domain_memory_dirty_rate_status", domain="win11") == 0
    assert value(found, "kvm_domain_state_info", domain="win11", state="running", reason="booted") == 1


def test_kubevirt_record() -> None:
    record = json.loads((LIBVIRT_FIXTURES / "kubevirt-statsconv-domstats.json").read_text())[0]
    stats = parse_go_domain_stats(record)
    found = samples(LibvirtSnapshot(True, HOST, [DomainRecord("f28", "u-2", stats)]))
    assert value(found, "kvm_domain_cpu_seconds_total", domain="f28") == 86.393420788
    assert {labels for name, labels in found if name == "kvm_domain_vcpu_seconds_total"} == {
        frozenset({("domain", "f28"), ("vcpu", str(i))}) for i in range(4)
    }
    disk = {"domain": "f28", "target": "vda"}
    assert value(found, "kvm_domain_block_flush_requests_total", **disk) == 613
    assert value(found, "kvm_domain_block_physical_bytes", **disk) == 41385254912
    # ErrorsSet is false in the capture: no errors series must be made up.
    assert ("kvm_domain_block_errors_total", frozenset(disk.items())) not in found
    assert value(found, "kvm_domain_interface_receive_bytes_total", domain="f28", target="vnet0") == 29735062


def test_recorded_qemu_domains() -> None:
    domains = recorded_domains()
    found = samples(LibvirtSnapshot(True, HOST, domains))
    assert value(found, "kvm_domain_state_info", domain="kx-probe-3", state="paused", reason="user") == 1
    assert value(found, "kvm_domain_state_info", domain="kx-off", state="shutoff", reason="unknown") == 1
    assert value(found, "kvm_domain_autostart", domain="kx-off") == 1
    assert value(found, "kvm_domain_autostart_not_running", domain="kx-off") == 1
    assert ("kvm_domain_autostart_not_running", frozenset({("domain", "kx-io")})) not in found
    assert value(found, "kvm_domain_persistent", domain="kx-io") == 0
    io = {"domain": "kx-io", "target": "vda"}
    assert value(found, "kvm_domain_block_read_requests_total", **io) > 0
    assert value(found, "kvm_domain_block_write_requests_total", **io) > 0
    assert value(found, "kvm_domain_block_info", **io, device="disk", bus="virtio", source_type="file",
                 source="/tmp/kx/io.img", protocol="", driver_type="raw", cache="none",
                 serial=next(d.xml.disks[0].serial for d in domains if d.name == "kx-io")) == 1
    # Three active domains of 1 vCPU / 64 MiB each; the shut-off one counts only as defined.
    assert value(found, "kvm_host_allocated_vcpus", scope="active") == 3
    assert value(found, "kvm_host_allocated_vcpus", scope="defined") == 4
    assert value(found, "kvm_host_allocated_memory_bytes", scope="active") == 3 * 64 * 2**20
    assert value(found, "kvm_domains", state="paused") == 1
    assert value(found, "kvm_domains", state="running") == 2


def test_output_on_all_fixtures_passes_promtool() -> None:
    domains = recorded_domains()
    stats = parse_virsh_domstats((LIBVIRT_FIXTURES / "glances-virsh-domstats-win11.txt").read_text())
    domains.append(DomainRecord("win11", "u-1", stats["win11"]))
    assert check_metrics(render(build_families(LibvirtSnapshot(True, HOST, domains)))) == ""


def test_libvirt_down_reports_only_up_zero() -> None:
    assert render(build_families(LibvirtSnapshot(False, error="boom"))).splitlines()[-1] == "kvm_libvirt_up 0"


def test_jobs_and_disk_errors() -> None:
    record = DomainRecord("mig", "u-3", {"state.state": 3, "state.reason": 5},
                          job={"type": 2, "operation": 5, "time_elapsed": 1500,
                               "data_total": 100, "data_remaining": 40, "memory_dirty_rate": 12},
                          disk_errors={"vda": 2, "vdb": 0})
    found = samples(LibvirtSnapshot(True, HOST, [record]))
    assert value(found, "kvm_domain_state_info", domain="mig", state="paused", reason="ioerror") == 1
    assert value(found, "kvm_domain_job_info", domain="mig", type="unbounded", operation="migration_out") == 1
    assert value(found, "kvm_domain_job_elapsed_seconds", domain="mig") == 1.5
    assert value(found, "kvm_domain_job_data_remaining_bytes", domain="mig") == 40
    assert value(found, "kvm_domain_disk_error", domain="mig", target="vda", error="no_space") == 1
    assert not any(name == "kvm_domain_disk_error" and ("target", "vdb") in labels
                   for name, labels in found)


def test_domain_without_job_has_no_job_series() -> None:
    record = DomainRecord("idle", "u-4", {"state.state": 1}, job={"type": 0})
    assert not any(name.startswith("kvm_domain_job") for name, _ in
                   samples(LibvirtSnapshot(True, HOST, [record])))


@pytest.mark.parametrize(("state", "reason", "names"), [
    (1, 1, ("running", "booted")), (3, 5, ("paused", "ioerror")), (3, 6, ("paused", "watchdog")),
    (5, 3, ("shutoff", "crashed")), (6, 1, ("crashed", "panicked")), (3, 99, ("paused", "code_99")),
    (42, 0, ("code_42", "unknown")),
])
def test_state_names(state: int, reason: int, names: tuple[str, str]) -> None:
    assert (state_name(state), reason_name(state, reason)) == names


def test_domain_xml_parser() -> None:
    xml = (LIBVIRT_FIXTURES / "test-node.xml").read_text()
    start = xml.index("<domain")
    info = parse_domain_xml(xml[start:xml.index("</domain>") + len("</domain>")])
    assert (info.os_type, info.arch, info.machine) == ("hvm", "x86_64", "pc")
    assert info.nova is not None and info.nova.flavor == "m1.small"
    assert info.nova.name == "web server\nsecond line" and info.nova.project_name == "shop"
    vdb = info.disks[1]
    assert (vdb.target, vdb.source_type, vdb.protocol, vdb.source) == (
        "vdb", "network", "iscsi", "iqn.2026-11.test:store/1")
    assert info.interfaces[0].source_bridge == "br-uplink"
    assert info.disk_targets == {"vda", "vdb"}


@pytest.mark.parametrize("text", ["", "<domain>", "<network/>"])
def test_domain_xml_parser_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_domain_xml(text)


class _StateChangeLockTimeout(libvirt.libvirtError):
    def __init__(self) -> None:
        Exception.__init__(self, "cannot acquire state change lock")

    def get_error_code(self) -> int:
        return int(libvirt.VIR_ERR_OPERATION_TIMEOUT)


class _FakeDomain:
    def __init__(self, name: str, fail: bool) -> None:
        self._name, self._fail = name, fail

    def name(self) -> str:
        return self._name

    def UUIDString(self) -> str:
        return f"uuid-{self._name}"

    def ID(self) -> int:
        return 1

    def XMLDesc(self, _flags: int) -> str:
        return f"<domain type='kvm'><name>{self._name}</name></domain>"

    def getCPUStats(self, _total: bool) -> list[dict[str, int]]:
        if self._fail:
            raise _StateChangeLockTimeout()
        return [{"cpu_time": 5}]

    def jobStats(self) -> dict[str, int]:
        return {"type": 0}


class _FakeConn:
    def domainListGetStats(self, domains: list[Any], _groups: int, _flags: int) -> list[Any]:
        return [(dom, {"state.state": 1, "state.reason": 1}) for dom in domains]


def test_one_domains_libvirt_error_costs_that_domain_only() -> None:
    """A per-domain call failing with anything but "no such domain" (here the state change
    lock timing out, as during a long job) marks that domain; the share's others are fresh."""
    source = LibvirtSource(SharedLibvirt("test:///default"))
    records = source._domain_share(_FakeConn(), [_FakeDomain("ok", False), _FakeDomain("locked", True)], {})
    by_name = {r.name: r for r in records}
    assert by_name["ok"].stale == "" and by_name["ok"].stats["cpu.time"] == 5
    assert by_name["locked"].stale == "operation_timeout"


def test_duplicate_series_are_impossible_by_construction() -> None:
    """SR-IOV hostdev vNICs report no name, or the same one (Tinkoff/libvirt-exporter issue 35):
    every series still has a label set of its own, in both exposition formats."""
    stats = {"state.state": 1, "state.reason": 1, "net.count": 4, "block.count": 2,
             **{f"net.{i}.{k}": v for i, name in enumerate(["", "", "tap0", "tap0"])
                for k, v in (("name", name), ("rx.bytes", 10 + i))},
             **{f"block.{i}.{k}": v for i in range(2) for k, v in (("name", "vda"), ("rd.bytes", 7))}}
    snapshot = LibvirtSnapshot(True, HOST, [DomainRecord("d", "u", stats)])
    text = render(build_families(snapshot))
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert len(lines) == len({line.rsplit(" ", 1)[0] for line in lines})
    targets = {s["target"] for s in series(parse_samples(text), "kvm_domain_interface_receive_bytes_total")}
    assert targets == {"#0", "#1", "tap0", "tap0#3"}
    families = list(text_string_to_metric_families(render(build_families(snapshot), openmetrics=True)))
    assert {f.name for f in families} >= {"kvm_domain_interface_receive_bytes", "kvm_domain_block_read_bytes"}


def test_kept_stats_plans_give_the_output_of_fresh_ones() -> None:
    """Each domain's plan (where its stats keys go) is kept across builds and made anew when
    the domain reports other keys or renames a device; the output is the same as without."""
    plans = StatsPlans()
    domains = recorded_domains()
    first = render(build_families(LibvirtSnapshot(True, HOST, domains), plans))
    assert first == render(build_families(LibvirtSnapshot(True, HOST, domains)))
    kept = {d.name: plans.plan(d.name, d.stats) for d in domains}
    plans.end_round()
    changed = dataclasses.replace(domains[0], stats={**domains[0].stats, "block.0.name": "vdz",
                                                     "cpu.user": 7, "vcpu.0.delay": 9})
    changed.stats.pop("cpu.system", None)
    snapshot = LibvirtSnapshot(True, HOST, [changed, *domains[1:]])
    assert render(build_families(snapshot, plans)) == render(build_families(snapshot))
    assert plans.plan(changed.name, changed.stats) is not kept[changed.name]
    assert all(plans.plan(d.name, d.stats) is kept[d.name] for d in domains[1:])
    found = samples(snapshot)
    assert value(found, "kvm_domain_cpu_user_seconds_total", domain=changed.name) == 7e-9
    assert {s["target"] for s in series(found, "kvm_domain_block_read_bytes_total")
            if s["domain"] == changed.name} >= {"vdz"}


def test_plans_of_domains_gone_are_dropped() -> None:
    plans = StatsPlans()
    domains = recorded_domains()
    build_families(LibvirtSnapshot(True, HOST, domains), plans)
    kept = plans.plan(domains[1].name, domains[1].stats)
    plans.end_round()
    build_families(LibvirtSnapshot(True, HOST, domains[:1]), plans)
    assert plans.plan(domains[1].name, domains[1].stats) is not kept


def test_pinning_parser() -> None:
    xml = """<domain type='kvm'><name>p</name><vcpu placement='static' cpuset='0-3'>3</vcpu>
      <cputune><vcpupin vcpu='1' cpuset='5'/><emulatorpin cpuset='6-7'/>
      <iothreadpin iothread='1' cpuset='7'/></cputune>
      <blkiotune><weight>500</weight></blkiotune>
      <devices><disk type='file' device='disk'><target dev='vda'/>
        <iotune><total_iops_sec>100</total_iops_sec><group_name>g</group_name></iotune></disk>
      </devices></domain>"""
    info = parse_domain_xml(xml)
    assert info.pinning == CpuPinning(((0, "0-3"), (1, "5"), (2, "0-3")), "6-7", ((1, "7"),))
    assert info.blkio_weight == 500
    assert info.disks[0].iotune == (("total_iops_sec", 100),)
    assert parse_domain_xml("<domain><vcpu>2</vcpu></domain>").pinning is None


@pytest.mark.parametrize(("cpuset", "size"), [("0", 1), ("0-3", 4), ("0-3,^2", 3), ("0-3,8,^2", 4),
                                               ("1,1,1", 1)])
def test_cpuset_size(cpuset: str, size: int) -> None:
    assert cpuset_size(cpuset) == size


@pytest.mark.parametrize("cpuset", ["", "a", "1-", "-1", "1-x", "0,,1"])
def test_garbled_cpuset_is_an_error(cpuset: str) -> None:
    with pytest.raises(ValueError, match="cpuset"):
        cpuset_size(cpuset)



def test_migration_detail_of_a_recorded_save_job() -> None:
    """A save is a migration into a file: its job statistics, recorded from a real save (see
    PROVENANCE), give every migration-detail series in base units."""
    job = json.loads((LIBVIRT_FIXTURES / "jobstats-save-9.0.json").read_text())
    record = DomainRecord("saved", "u-1", {"state.state": 3, "state.reason": 3}, job=job)
    found = samples(LibvirtSnapshot(True, HOST, [record]))
    assert value(found, "kvm_domain_job_info", domain="saved", type="completed", operation="save") == 1
    assert value(found, "kvm_domain_job_memory_bandwidth_bytes_per_second", domain="saved") == 70601100
    assert value(found, "kvm_domain_job_memory_page_size_bytes", domain="saved") == 4096
    assert value(found, "kvm_domain_job_memory_constant_pages", domain="saved") == 32848
    assert value(found, "kvm_domain_job_downtime_seconds", domain="saved") == 0.02
    assert value(found, "kvm_domain_job_setup_seconds", domain="saved") == 0.001
    assert value(found, "kvm_domain_job_memory_iteration", domain="saved") == 2
    unmapped = set(job) - set(JOB_FIELDS) - {"type", "operation"}
    assert unmapped == {"memory_normal_bytes"}  # memory_normal pages x page size, not repeated


def test_perf_and_memory_bandwidth_groups() -> None:
    """The keys libvirt documents for the perf and memory groups (virConnectGetAllDomainStats)."""
    stats = {"state.state": 1, "perf.cpu_cycles": 1000, "perf.cache_misses": 7, "perf.mbmt": 4096,
             "memory.bandwidth.monitor.count": 1, "memory.bandwidth.monitor.0.name": "vcpus_0-1",
             "memory.bandwidth.monitor.0.vcpus": "0-1", "memory.bandwidth.monitor.0.node.count": 2,
             "memory.bandwidth.monitor.0.node.0.id": 0, "memory.bandwidth.monitor.0.node.0.bytes.local": 10,
             "memory.bandwidth.monitor.0.node.0.bytes.total": 20,
             "memory.bandwidth.monitor.0.node.1.id": 1, "memory.bandwidth.monitor.0.node.1.bytes.total": 5,
             "iothread.count": 2, "dirtyrate.calc_status": 2, "dirtyrate.megabytes_per_second": 3}
    found = samples(LibvirtSnapshot(True, HOST, [DomainRecord("p", "u-9", stats)]))
    assert value(found, "kvm_domain_perf_events_total", domain="p", event="cpu_cycles") == 1000
    assert value(found, "kvm_domain_perf_events_total", domain="p", event="cache_misses") == 7
    assert value(found, "kvm_domain_perf_memory_bandwidth_total_bytes_per_second", domain="p") == 4096
    assert value(found, "kvm_domain_memory_bandwidth_bytes_total", domain="p", monitor="vcpus_0-1", node="0",
                 scope="local") == 10
    assert value(found, "kvm_domain_memory_bandwidth_bytes_total", domain="p", monitor="vcpus_0-1", node="1",
                 scope="total") == 5
    assert value(found, "kvm_domain_iothreads", domain="p") == 2
    assert value(found, "kvm_domain_memory_dirty_rate_bytes_per_second", domain="p") == 3 << 20


def test_optional_groups_are_off_by_default() -> None:
    assert set(DEFAULT_GROUPS) == set(STATS_GROUPS) - {"perf", "iothread", "memory", "dirtyrate"}
    assert parse_stats_groups("block,perf") == ("block", "perf")
    flags = fresh_flags(frozenset(DEFAULT_GROUPS))
    assert not flags & (libvirt.VIR_DOMAIN_STATS_PERF | libvirt.VIR_DOMAIN_STATS_DIRTYRATE)
    # with neither perf nor memory read, their families are not even looked for
    record = DomainRecord("p", "u-9", {"state.state": 1, "perf.cpu_cycles": 5})
    read = samples(LibvirtSnapshot(True, HOST, [record], groups=frozenset(DEFAULT_GROUPS)))
    assert not any(name == "kvm_domain_perf_events_total" for name, _ in read)
    asked = samples(LibvirtSnapshot(True, HOST, [record], groups=frozenset({*DEFAULT_GROUPS, "perf"})))
    assert value(asked, "kvm_domain_perf_events_total", domain="p", event="cpu_cycles") == 5
