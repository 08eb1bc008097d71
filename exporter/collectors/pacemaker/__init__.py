"""The Pacemaker collector (faults ha_resource, cluster_quorum): nodes, resources per node,
fail counts against migration-threshold, failed actions, location constraints (the
`cli-ban-*`/`cli-prefer-*` that `crm_resource --ban/--move` leave behind) and the cluster
options that matter, from `crm_mon --output-as=xml` (`--as-xml` on Pacemaker < 2.0.3) and
`cibadmin --query --scope configuration`, run in the background on their own interval with
a timeout; the last answers are served with their age.

VirtualDomain resources are mapped to the libvirt domain they manage (the `<name>` in the
XML file of their `config` parameter), IPaddr2 resources to their address, so the VM
dashboard shows a VM's cluster resource and the cluster alerts name the VMs at risk. A host
without Pacemaker gets `kvm_pacemaker_present 0` and nothing runs.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field

from exporter.collector import read_errors_family, register
from exporter.collectors.cluster import Answers, ClusterCollector, flag, installed, status_families
from exporter.collectors.pacemaker.parse import (
    CIB_ARGS,
    CRM_MON_ARGS,
    CRM_MON_LEGACY_ARGS,
    NODE_STATUSES,
    RESOURCE_STATUSES,
    ClusterConfig,
    ClusterStatus,
    Constraint,
    domain_name_of,
    parse_cib_configuration,
    parse_crm_mon,
)
from exporter.commands import CommandError, parse_off_loop
from exporter.metrics import Family, gauge
from exporter.options import Option, duration
from exporter.poller import Poller, first_wait
from exporter.settings import Settings
from exporter.shared import Shared

NR = ["resource", "node"]
VIRTUAL_DOMAIN = "ocf:heartbeat:VirtualDomain"
IPADDR2 = "ocf:heartbeat:IPaddr2"
USAGE_EXIT = 64  # crm_mon's answer to an option it does not know (Pacemaker < 2.0.3)
POLICIES = ("stop", "freeze", "ignore", "demote", "suicide", "fence")


@dataclass
class DomainNames:
    """VirtualDomain `config` file -> domain name, read again only when the file changes."""

    names: dict[str, tuple[int, str]] = field(default_factory=dict)  # path -> (mtime_ns, name)
    errors: int = 0

    def name_of(self, path: str) -> str:
        try:
            mtime = os.stat(path).st_mtime_ns
            cached = self.names.get(path)
            if cached is not None and cached[0] == mtime:
                return cached[1]
            with open(path, encoding="utf-8") as file:
                name = domain_name_of(file.read(1 << 20))
        except (OSError, ValueError, UnicodeDecodeError):
            self.errors += 1
            return ""
        self.names[path] = (mtime, name)
        return name


class PacemakerPoller:
    def __init__(self, settings: Settings) -> None:
        self.crm_mon = CRM_MON.of(settings)
        self.cibadmin = CIBADMIN.of(settings)
        self.timeout = TIMEOUT.of(settings)
        self.status: ClusterStatus | None = None
        self.config: ClusterConfig | None = None
        self.domains: dict[str, str] = {}  # VirtualDomain resource -> domain
        self.domain_names = DomainNames()
        self.answers = Answers()
        self._legacy = False
        self.background = Poller("pacemaker", self.poll, INTERVAL.of(settings),
                                 first_wait(settings.collector_timeout))

    async def _crm_mon(self) -> None:
        try:
            code, output = await self.background.status(
                [self.crm_mon, *(CRM_MON_LEGACY_ARGS if self._legacy else CRM_MON_ARGS)], self.timeout)
            if code == USAGE_EXIT and not self._legacy and self.status is None:
                self._legacy = True
                code, output = await self.background.status([self.crm_mon, *CRM_MON_LEGACY_ARGS],
                                                            self.timeout)
            if code != 0:  # 102: not connected (Pacemaker is not running on this node)
                self.background.failed(f"exit_{code}")
                raise CommandError(f"exit_{code}")
            self.status = await parse_off_loop(parse_crm_mon, output)
        except (CommandError, ValueError) as exc:
            self.answers.failed("crm_mon", exc, self.background)
        else:
            self.answers.succeeded("crm_mon")

    async def _cib(self) -> None:
        if not await asyncio.to_thread(installed, self.cibadmin):
            return
        try:
            output = await self.background.output([self.cibadmin, *CIB_ARGS], self.timeout)
            self.config = await parse_off_loop(parse_cib_configuration, output)
        except (CommandError, ValueError) as exc:
            self.answers.failed("cibadmin", exc, self.background)
        else:
            self.answers.succeeded("cibadmin", main=False)
            self.domains = await asyncio.to_thread(self._domains, self.config)

    def _domains(self, config: ClusterConfig) -> dict[str, str]:
        return {p.id: self.domain_names.name_of(p.parameters.get("config", ""))
                for p in config.primitives if p.agent == VIRTUAL_DOMAIN}

    async def poll(self) -> None:
        await asyncio.gather(self._crm_mon(), self._cib())


def summary_families(status: ClusterStatus) -> list[Family]:
    families = []
    for name, value, doc in (
        ("quorate", status.quorate, "Whether the DC's partition has quorum, as Pacemaker sees it."),
        ("dc_present", status.dc_present, "Whether the cluster has a designated controller (DC)."),
        ("stonith_enabled", status.option("stonith-enabled"), "Whether fencing is enabled (a cluster "
         "without it cannot recover a lost node's resources safely)."),
        ("maintenance_mode", status.option("maintenance-mode"), "Whether the cluster is in maintenance "
         "mode: nothing is monitored, started or stopped."),
        ("stop_all_resources", status.option("stop-all-resources"), "Whether stop-all-resources is set."),
        ("symmetric_cluster", status.option("symmetric-cluster"), "Whether resources may run anywhere "
         "by default (symmetric-cluster)."),
    ):
        families.append(gauge(f"pacemaker_{name}", doc))
        families[-1].add((), flag(value))
    policy = gauge("pacemaker_no_quorum_policy", "What the cluster does without quorum (stop, freeze, "
                   "ignore, demote, suicide): 1 for the configured one.", ["policy"])
    configured = status.options.get("no-quorum-policy", "stop")
    for known in sorted(set(POLICIES) | {configured}):
        policy.add((known,), flag(known == configured))
    dc = gauge("pacemaker_dc_info", "The node that is the designated controller.", ["node"])
    if status.dc:
        dc.add((status.dc,), 1)
    counts = gauge("pacemaker_resources_configured", "Resources configured, and of them disabled "
                   "(target-role Stopped) and blocked.", ["state"])
    for state, count in (("total", status.resources_configured), ("disabled", status.resources_disabled),
                         ("blocked", status.resources_blocked)):
        counts.add((state,), count)
    nodes = gauge("pacemaker_nodes_configured", "Nodes configured in the cluster.")
    nodes.add((), status.nodes_configured)
    families += [policy, dc, counts, nodes]
    if status.last_change is not None:
        families.append(gauge("pacemaker_config_last_change_timestamp_seconds", "When the CIB last changed."))
        families[-1].add((), status.last_change)
    return families


def node_families(status: ClusterStatus) -> list[Family]:
    node = gauge("pacemaker_node_status", "A node's status flags as crm_mon shows them (online, standby, "
                 "standby_onfail, maintenance, pending, unclean, shutdown, expected_up, dc): 1 set, 0 not.",
                 ["node", "type", "status"])
    running = gauge("pacemaker_node_resources_running", "Resource instances running on the node.", ["node"])
    for n in status.nodes:
        for name in NODE_STATUSES:
            node.add((n.name, n.type, name), flag(n.statuses.get(name)))
        running.add((n.name,), n.resources_running)
    return [node, running]


def resource_families(status: ClusterStatus, domains: dict[str, str],
                      config: ClusterConfig | None) -> list[Family]:
    role = gauge("pacemaker_resource_role", "Instances of a resource in a role (Started, Stopped, "
                 "Promoted, Unpromoted, Starting, Stopping, ...) on a node (node \"\": running nowhere).",
                 [*NR, "role"])
    for (resource, node, state), instances in sorted(status.resource_roles().items()):
        role.add((resource, node, state), instances)
    flags: dict[tuple[str, str, str], bool] = {}
    info: dict[str, tuple[str, str, str]] = {}
    for r in status.resources:
        info[r.id] = (r.agent, r.group, r.clone)
        for name in RESOURCE_STATUSES:
            key = (r.id, r.node, name)
            flags[key] = flags.get(key, False) or r.statuses.get(name, False)
    status_family = gauge("pacemaker_resource_status", "A resource instance's status flags on a node "
                          "(active, failed, blocked, managed, orphaned, failure_ignored): 1 set, 0 not.",
                          [*NR, "status"])
    for key, value in sorted(flags.items()):
        status_family.add(key, flag(value))
    info_family = gauge("pacemaker_resource_info", "A resource: its agent, group and clone/bundle "
                        "(\"\" when none), and the libvirt domain a VirtualDomain resource manages.",
                        ["resource", "agent", "group", "clone", "domain"])
    for resource, (agent, group, clone) in sorted(info.items()):
        info_family.add((resource, agent, group, clone, domains.get(resource, "")), 1)
    return [role, status_family, info_family, *vip_families(status, config)]


def vip_families(status: ClusterStatus, config: ClusterConfig | None) -> list[Family]:
    vip = gauge("pacemaker_vip_info", "Where an IPaddr2 floating address runs now (node \"\": nowhere).",
                ["resource", "ip", "node"])
    if config is None:
        return [vip]
    started = {r.id: r.node for r in status.resources if r.statuses.get("active") and r.node}
    for primitive in config.primitives:
        if primitive.agent == IPADDR2:
            vip.add((primitive.id, primitive.parameters.get("ip", ""), started.get(primitive.id, "")), 1)
    return [vip]


def failure_families(status: ClusterStatus) -> list[Family]:
    fail = gauge("pacemaker_resource_failures", "Failures of a resource on a node since its last cleanup; at "
                 "migration-threshold the resource is moved away from the node.", NR)
    threshold = gauge("pacemaker_migration_threshold", "The resource's migration-threshold on the node "
                      "(1000000: INFINITY, never moved for failures).", NR)
    last = gauge("pacemaker_last_failure_timestamp_seconds", "When the resource last failed on the node.", NR)
    for h in status.history:
        key = (h.resource, h.node)
        fail.add(key, h.fail_count)
        threshold.add(key, h.migration_threshold)
        if h.last_failure is not None:
            last.add(key, h.last_failure)
    failed = gauge("pacemaker_failed_action_timestamp_seconds", "A failed resource action crm_mon lists "
                   "(until cleanup), with when it failed (0: unknown).",
                   [*NR, "task", "interval_ms", "exitcode", "exitstatus"])
    seen: set[tuple[str, ...]] = set()
    for f in status.failures:
        action = (f.resource, f.node, f.task, str(f.interval_ms), f.exitcode, f.exitstatus)
        if action not in seen:
            seen.add(action)
            failed.add(action, f.last_rc_change or 0)
    return [fail, threshold, last, failed]


def constraint_families(constraints: list[Constraint]) -> list[Family]:
    family = gauge("pacemaker_location_constraint", "A location constraint and its score (-1000000: a "
                   "ban, -INFINITY); kind cli-ban/cli-prefer: left by crm_resource --ban/--move, user: "
                   "configured.", ["constraint", "resource", "node", "role", "kind"])
    seen: set[str] = set()
    for c in constraints:
        if c.id not in seen:
            seen.add(c.id)
            family.add((c.id, c.resource, c.node, c.role, c.kind), c.score)
    return [family]


class PacemakerCollector(ClusterCollector):
    name = "pacemaker"
    software = "Pacemaker (crm_mon)"

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.poller = PacemakerPoller(settings)
        self.background = self.poller.background

    def installed(self) -> bool:
        return installed(self.poller.crm_mon)

    def answer_families(self) -> list[Family]:
        p = self.poller
        families = [*status_families("pacemaker", "crm_mon", "crm_mon", p.answers, p.background),
                    read_errors_family(self.name, p.domain_names.errors)]
        if p.status is None:
            return families
        # the CIB's constraints when cibadmin answered (cli-prefer too), else crm_mon's bans
        constraints = p.config.constraints if p.config is not None else p.status.bans
        return [*families, *summary_families(p.status), *node_families(p.status),
                *resource_families(p.status, p.domains, p.config), *failure_families(p.status),
                *constraint_families(constraints)]


CRM_MON = Option("pacemaker.crm-mon-path", "crm_mon", "crm_mon to run.")
CIBADMIN = Option("pacemaker.cibadmin-path", "cibadmin", "cibadmin to run (location constraints, "
                  "VirtualDomain and IPaddr2 parameters).")
INTERVAL = Option("pacemaker.interval", 15.0, "How often crm_mon and cibadmin run, in the background.",
                  parse=duration, shown="15s")
TIMEOUT = Option("pacemaker.timeout", 10.0, "Time one crm_mon/cibadmin run may take before it is killed.",
                 parse=duration, shown="10s")


@register("pacemaker", default_enabled=True, options=[CRM_MON, CIBADMIN, INTERVAL, TIMEOUT],
          description="Pacemaker nodes, resources (VirtualDomain mapped to domains), fail counts, "
          "constraints (background)")
def create(settings: Settings, _shared: Shared) -> PacemakerCollector:
    return PacemakerCollector(settings)
