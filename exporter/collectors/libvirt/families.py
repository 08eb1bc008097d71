"""Pure: a LibvirtSnapshot becomes metric families (faults domain_failure, vm_health, overcommit).

The field tables are in `fields.py`; where each domain's stats keys go is planned once per
domain (`plans.py`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from exporter.collectors.libvirt.fields import (
    BLOCK_FIELDS,
    DOMAIN_FIELDS,
    DT,
    INTERFACE_FIELDS,
    JOB_FIELDS,
    KVM_VCPU_FAMILIES,
    VCPU_FIELDS,
    D,
    to_base,
)
from exporter.collectors.libvirt.inventory import (
    host_families,
    inventory_families,
    lifecycle_family,
    staleness_families,
)
from exporter.collectors.libvirt.optional_groups import KEYED_GROUPS, optional_group_families
from exporter.collectors.libvirt.plans import SLOTS, StatsPlans
from exporter.collectors.libvirt.tuning import tuning_families
from exporter.libvirt.snapshot import DomainRecord, LibvirtSnapshot
from exporter.libvirt.states import (
    ACTIVE_STATES,
    disk_error_name,
    job_operation_name,
    job_type_name,
    reason_name,
    state_name,
)
from exporter.metrics import Family, gauge


def build_families(snapshot: LibvirtSnapshot, plans: StatsPlans | None = None) -> list[Family]:
    """`plans` keeps each domain's stats plan across calls; the output is the same without."""
    up = gauge("libvirt_up", "Whether the last connection to libvirt succeeded (1) or not (0).")
    up.add((), 1 if snapshot.up else 0)
    families = [up]
    if snapshot.host is not None:
        families.extend(host_families(snapshot.host))
    if snapshot.up:
        families.extend(_domain_families(snapshot.domains, plans or StatsPlans()))
        families.extend(tuning_families(snapshot.domains))
        if snapshot.groups is None or snapshot.groups & KEYED_GROUPS:  # else no key to look for
            families.extend(optional_group_families(snapshot.domains))
        families.extend(inventory_families(snapshot.domains))
        families.append(lifecycle_family(snapshot.lifecycle_events))
        families.extend(staleness_families(snapshot))
    return [f for f in families if f.rows or f is up]


class _DomainFamilies:
    """Accumulates the per-domain families across all domains of one snapshot."""

    def __init__(self) -> None:
        self.info = gauge("domain_info", "Descriptive data of the domain, as labels.",
                          ["domain", "uuid", "os_type", "arch", "machine"])
        self.openstack = gauge("domain_openstack_info", "OpenStack Nova metadata of the domain.",
                               ["domain", "instance_name", "flavor", "project_name",
                                "project_uuid", "project_id", "user_name", "user_uuid"])
        self.state_code = gauge("domain_state_code", "State of the domain as libvirt's code "
                                "(1 running, 3 paused, 5 shut off, 6 crashed, ...).", D)
        self.state = gauge("domain_state_info", "State of the domain and the reason it is in "
                           "that state, as labels.", ["domain", "state", "reason"])
        self.autostart = gauge("domain_autostart", "Whether the domain starts with the host (1) "
                               "or not (0).", D)
        self.persistent = gauge("domain_persistent", "Whether the domain is persistent (1) or "
                                "transient (0).", D)
        self.autostart_down = gauge("domain_autostart_not_running", "For domains marked autostart: "
                                    "1 if the domain is not running or paused (it should be up and "
                                    "is not), else 0.", D)
        self.scalars = {k: f.family(D) for k, f in DOMAIN_FIELDS.items()}
        self.vcpus = {k: f.family(("domain", "vcpu")) for k, f in VCPU_FIELDS.items()}
        self.kvm_vcpus = {
            key: field.family(("domain", "vcpu", label) if label else ("domain", "vcpu"))
            for key, (field, label) in KVM_VCPU_FAMILIES.items()
        }
        self.blocks = {k: f.family(DT) for k, f in BLOCK_FIELDS.items()}
        self.nics = {k: f.family(DT) for k, f in INTERFACE_FIELDS.items()}
        groups = {"domain": self.scalars, "vcpu": self.vcpus, "kvm_vcpu": self.kvm_vcpus,
                  "block": self.blocks, "net": self.nics}
        self.slots = [groups[group][key].rows for group, key in SLOTS]
        self.jobs = {k: f.family(D) for k, f in JOB_FIELDS.items()}
        self.block_info = gauge("domain_block_info", "Descriptive data of a domain disk, as labels.",
                                ["domain", "target", "device", "bus", "source_type", "source",
                                 "protocol", "driver_type", "cache", "serial"])
        self.nic_info = gauge("domain_interface_info", "Descriptive data of a domain vNIC, as labels.",
                              ["domain", "target", "mac", "type", "source_bridge",
                               "source_network", "model"])
        self.nic_bridge = gauge("domain_interface_bridge_info", "The bridge (Linux or Open vSwitch) "
                                "a domain vNIC is plugged into; join on bridge to name the VMs a "
                                "bridge or uplink failure cuts off.", ["domain", "target", "bridge"])
        self.job = gauge("domain_job_info", "A job (migration, save, dump, backup, ...) runs on "
                         "the domain; its type and operation as labels.", ["domain", "type", "operation"])
        self.disk_error = gauge("domain_disk_error", "The domain reports an I/O error on the "
                                "disk (error no_space or unspec) that paused it.",
                                ["domain", "target", "error"])

    def all(self) -> Iterable[Family]:
        yield from (self.info, self.openstack, self.state_code, self.state, self.autostart,
                    self.persistent, self.autostart_down)
        yield from self.scalars.values()
        yield from self.vcpus.values()
        yield from self.kvm_vcpus.values()
        yield from self.blocks.values()
        yield self.block_info
        yield from self.nics.values()
        yield self.nic_info
        yield self.nic_bridge
        yield self.job
        yield from self.jobs.values()
        yield self.disk_error


def _domain_families(domains: list[DomainRecord], plans: StatsPlans) -> Iterable[Family]:
    acc = _DomainFamilies()
    for record in domains:
        _add_domain(acc, record, plans)
    plans.end_round()
    return acc.all()


def _add_domain(acc: _DomainFamilies, record: DomainRecord, plans: StatsPlans) -> None:
    name = record.name
    key_d = (name,)
    stats = record.stats
    state = int(stats.get("state.state", 0))
    acc.state_code.add(key_d, state)
    acc.state.add((name, state_name(state), reason_name(state, int(stats.get("state.reason", 0)))), 1)
    acc.autostart.add(key_d, 1 if record.autostart else 0)
    acc.persistent.add(key_d, 1 if record.persistent else 0)
    if record.autostart:
        acc.autostart_down.add(key_d, 0 if state in ACTIVE_STATES else 1)
    xml = record.xml
    if xml is not None:
        acc.info.add((name, record.uuid, xml.os_type, xml.arch, xml.machine), 1)
        if xml.nova is not None:
            n = xml.nova
            # project_id: the same UUID under the name CloudKitty and Gnocchi join on
            acc.openstack.add((name, n.name, n.flavor, n.project_name, n.project_uuid,
                               n.project_uuid, n.user_name, n.user_uuid), 1)
        for disk in xml.disks:
            acc.block_info.add((name, disk.target, disk.device, disk.bus, disk.source_type,
                                disk.source, disk.protocol, disk.driver_type, disk.cache,
                                disk.serial), 1)
        for nic in xml.interfaces:
            acc.nic_info.add((name, nic.target, nic.mac, nic.type, nic.source_bridge,
                              nic.source_network, nic.model), 1)
            if nic.source_bridge:
                acc.nic_bridge.add((name, nic.target, nic.source_bridge), 1)
    else:
        acc.info.add((name, record.uuid, "", "", ""), 1)
    _add_stats(acc, name, stats, plans)
    if record.job is not None:
        _add_job(acc, name, record.job)
    for target, code in sorted((record.disk_errors or {}).items()):
        if code:
            acc.disk_error.add((name, target, disk_error_name(code)), 1)


def _add_stats(acc: _DomainFamilies, name: str, stats: dict[str, Any], plans: StatsPlans) -> None:
    slots = acc.slots
    for key, slot, labels, multiplier, divisor in plans.plan(name, stats).steps:
        value = stats[key]
        slots[slot].append((labels, value / divisor if divisor else value * multiplier))  # to_base, inlined


def _add_job(acc: _DomainFamilies, name: str, job: dict[str, Any]) -> None:
    job_type = int(job.get("type", 0))
    if job_type == 0:
        return
    operation = job_operation_name(int(job.get("operation", 0)))
    acc.job.add((name, job_type_name(job_type), operation), 1)
    for key, field in JOB_FIELDS.items():
        if key in job:
            acc.jobs[key].add((name,), to_base(job[key], field.scale))
