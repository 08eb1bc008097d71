"""Where each bulk-stats key of a domain goes (its family, labels and scale), worked out
once per domain and reused while the domain reports the same keys and device names.

A domain's record has ~100 keys (`cpu.time`, `vcpu.0.exits.sum`, `block.1.rd.bytes`, ...),
the same scrape after scrape: splitting and matching each of them against the field tables
every scrape was half of the libvirt collector's own CPU at a thousand domains.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exporter.collectors.libvirt.fields import (
    BLOCK_FIELDS,
    DOMAIN_FIELDS,
    INTERFACE_FIELDS,
    KVM_VCPU_FAMILIES,
    KVM_VCPU_FIELDS,
    VCPU_FIELDS,
    Field,
    scaling,
)

# The per-domain stats families in a fixed order; a step names its family by position.
SLOTS: list[tuple[str, str]] = [
    *(("domain", key) for key in DOMAIN_FIELDS),
    *(("vcpu", key) for key in VCPU_FIELDS),
    *(("kvm_vcpu", key) for key in KVM_VCPU_FAMILIES),
    *(("block", key) for key in BLOCK_FIELDS),
    *(("net", key) for key in INTERFACE_FIELDS),
]
_SLOT = {slot: index for index, slot in enumerate(SLOTS)}

# A step: (stats key, family slot, label values, multiplier, divisor or 0 to multiply).
Step = tuple[str, int, tuple[str, ...], float, int]


@dataclass(frozen=True, slots=True)
class StatsPlan:
    keys: frozenset[str]
    names: tuple[tuple[str, Any], ...]  # the device-name keys and the values planned for
    steps: tuple[Step, ...]

    def fits(self, stats: dict[str, Any]) -> bool:
        return stats.keys() == self.keys and all(stats.get(key) == value for key, value in self.names)


class StatsPlans:
    """The plan of each domain, by name; plans of domains no longer seen are dropped."""

    def __init__(self) -> None:
        self._plans: dict[str, StatsPlan] = {}
        self._seen: set[str] = set()

    def plan(self, domain: str, stats: dict[str, Any]) -> StatsPlan:
        self._seen.add(domain)
        found = self._plans.get(domain)
        if found is None or not found.fits(stats):
            found = self._plans[domain] = make_plan(domain, stats)
        return found

    def end_round(self) -> None:
        for gone in self._plans.keys() - self._seen:
            del self._plans[gone]
        self._seen = set()


def make_plan(domain: str, stats: dict[str, Any]) -> StatsPlan:
    key_d = (domain,)
    steps: list[Step] = []
    groups: dict[str, dict[str, dict[str, str]]] = {"vcpu": {}, "block": {}, "net": {}}
    for key, value in stats.items():
        field = DOMAIN_FIELDS.get(key)
        if field is not None:
            steps.append((key, _SLOT["domain", key], key_d, *scaling(field.scale)))
            continue
        group, _, rest = key.partition(".")
        index, _, sub = rest.partition(".")
        if sub and index.isdigit() and group in groups:
            subs = groups[group].setdefault(index, {})  # a device with names only still counts
            if not isinstance(value, str):
                subs[sub] = key
    vcpus, blocks, nics = groups["vcpu"], groups["block"], groups["net"]
    steps += _indexed_steps("vcpu", VCPU_FIELDS, domain, {i: i for i in vcpus}, vcpus)
    steps += _kvm_vcpu_steps(domain, vcpus)
    names = [(f"{group}.{index}.name", stats.get(f"{group}.{index}.name"))
             for group in ("block", "net") for index in groups[group]]
    steps += _indexed_steps("block", BLOCK_FIELDS, domain, _labels(stats, "block", blocks), blocks)
    steps += _indexed_steps("net", INTERFACE_FIELDS, domain, _labels(stats, "net", nics), nics)
    return StatsPlan(frozenset(stats), tuple(names), tuple(steps))


def _labels(stats: dict[str, Any], group: str, indexes: dict[str, dict[str, str]]) -> dict[str, str]:
    return {i: str(stats.get(f"{group}.{i}.name", i)) for i in indexes}


def _indexed_steps(group: str, fields: dict[str, Field], domain: str, labels: dict[str, str],
                   indexes: dict[str, dict[str, str]]) -> list[Step]:
    steps: list[Step] = []
    seen: set[str] = set()
    for index in sorted(indexes, key=int):
        label_values = (domain, distinct_target(labels.get(index, ""), index, seen))
        for sub, key in indexes[index].items():
            field = fields.get(sub)
            if field is not None:
                steps.append((key, _SLOT[group, sub], label_values, *scaling(field.scale)))
    return steps


def distinct_target(name: str, index: str, seen: set[str]) -> str:
    """A disk or vNIC's target label, unique within its domain by construction: SR-IOV
    hostdev vNICs report no name (or the same one), which would give duplicate series; they
    become `#<index>` (or `<name>#<index>`)."""
    target = name or f"#{index}"
    if target in seen:
        target = f"{target}#{index}"
    seen.add(target)
    return target


def _kvm_vcpu_steps(domain: str, vcpus: dict[str, dict[str, str]]) -> list[Step]:
    steps: list[Step] = []
    for index in sorted(vcpus, key=int):
        for sub, key in vcpus[index].items():
            target = KVM_VCPU_FIELDS.get(sub)
            if target is None:
                continue
            family, label_value = target
            labels = (domain, index, label_value) if label_value else (domain, index)
            field = KVM_VCPU_FAMILIES[family][0]
            steps.append((key, _SLOT["kvm_vcpu", family], labels, *scaling(field.scale)))
    return steps
