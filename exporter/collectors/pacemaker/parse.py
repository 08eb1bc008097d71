"""Pure parsers of Pacemaker's answers: `crm_mon --output-as=xml` (Pacemaker >= 2.0.3, the
`<pacemaker-result>` document) and the legacy `crm_mon --as-xml` (`<crm_mon version=...>`),
and the CIB's configuration section (`cibadmin --query --scope configuration`) for what
crm_mon does not show: location constraints with a positive score (`crm_resource --move`
leaves `cli-prefer-*`), and the parameters of VirtualDomain and IPaddr2 primitives."""

from __future__ import annotations

import calendar
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

NODE_STATUSES = ("online", "standby", "standby_onfail", "maintenance", "pending", "unclean",
                 "shutdown", "expected_up", "dc")
RESOURCE_STATUSES = ("active", "failed", "blocked", "managed", "orphaned", "failure_ignored")
INFINITY = 1_000_000  # Pacemaker's own value of a score of INFINITY
CRM_MON_ARGS = ["--one-shot", "--output-as=xml", "--inactive", "--include=all"]
CRM_MON_LEGACY_ARGS = ["--one-shot", "--as-xml", "--inactive"]
CIB_ARGS = ["--query", "--scope", "configuration"]


@dataclass(frozen=True)
class Node:
    name: str
    id: str
    type: str
    statuses: dict[str, bool]
    resources_running: int


@dataclass(frozen=True)
class Resource:
    """One instance of a primitive as crm_mon shows it; `node` is "" when it runs nowhere."""

    id: str
    agent: str
    role: str
    node: str
    group: str
    clone: str
    statuses: dict[str, bool]


@dataclass(frozen=True)
class History:
    resource: str
    node: str
    fail_count: int
    migration_threshold: int
    last_failure: float | None


@dataclass(frozen=True)
class FailedAction:
    resource: str
    node: str
    task: str
    interval_ms: int
    exitcode: str
    exitstatus: str
    last_rc_change: float | None


@dataclass(frozen=True)
class Constraint:
    id: str
    resource: str
    node: str
    role: str
    score: float

    @property
    def kind(self) -> str:
        """`cli-ban` / `cli-prefer`: left by `crm_resource --ban` / `--move`; `user` otherwise."""
        for kind in ("cli-ban", "cli-prefer"):
            if self.id.startswith(kind + "-"):
                return kind
        return "user"


@dataclass
class ClusterStatus:
    dialect: str  # "pacemaker-result" or "crm_mon" (legacy)
    dc: str = ""
    dc_present: bool = False
    quorate: bool = False
    last_change: float | None = None
    nodes_configured: int = 0
    resources_configured: int = 0
    resources_disabled: int = 0
    resources_blocked: int = 0
    options: dict[str, str] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)
    resources: list[Resource] = field(default_factory=list)
    history: list[History] = field(default_factory=list)
    failures: list[FailedAction] = field(default_factory=list)
    bans: list[Constraint] = field(default_factory=list)

    def option(self, name: str) -> bool:
        return _bool(self.options.get(name, "false"))

    def resource_roles(self) -> Counter[tuple[str, str, str]]:
        """(resource, node, role) -> instances: a clone's stopped instances share a key."""
        return Counter((r.id, r.node, r.role) for r in self.resources)


@dataclass(frozen=True)
class Primitive:
    id: str
    agent: str
    parameters: dict[str, str]  # instance attributes: VirtualDomain's config, IPaddr2's ip


@dataclass
class ClusterConfig:
    primitives: list[Primitive] = field(default_factory=list)
    constraints: list[Constraint] = field(default_factory=list)


def _bool(value: str | None) -> bool:
    return (value or "").lower() in ("true", "yes", "on", "1", "y")


def _int(value: str | None, default: int = 0) -> int:
    try:
        return int(value or default)
    except ValueError:
        return default


def parse_score(value: str | None) -> float:
    text = (value or "0").strip().lower().lstrip("+")
    if text in ("infinity", "inf"):
        return INFINITY
    if text in ("-infinity", "-inf"):
        return -INFINITY
    try:
        return max(-INFINITY, min(INFINITY, float(text)))
    except ValueError:
        raise ValueError(f"not a score: {value!r}") from None


def parse_time(value: str | None) -> float | None:
    """crm_mon's times: "2026-12-01 22:02:15Z" (UTC) or ctime "Tue Dec  1 22:02:15 2026"
    (local time), or epoch seconds in old versions; blank (Pacemaker's tests) is None."""
    text = (value or "").strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    for layout, utc in (("%Y-%m-%d %H:%M:%SZ", True), ("%a %b %d %H:%M:%S %Y", False)):
        try:
            parsed = time.strptime(" ".join(text.split()), layout)
        except ValueError:
            continue
        return float(calendar.timegm(parsed) if utc else time.mktime(parsed))
    return None


def normalise_agent(agent: str) -> str:
    """The legacy format writes `ocf::heartbeat:IPaddr2`, the current `ocf:heartbeat:IPaddr2`."""
    return agent.replace("::", ":")


def _root(text: str) -> ET.Element:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"crm_mon output is not XML: {exc}") from None
    return root


def parse_crm_mon(text: str) -> ClusterStatus:
    root = _root(text)
    if root.tag not in ("pacemaker-result", "crm_mon"):
        raise ValueError(f"not a crm_mon document: <{root.tag}>")
    status_element = root.find("status")
    if status_element is not None and status_element.get("code", "0") != "0":
        raise ValueError(f"crm_mon failed: {status_element.get('message', '')}")
    summary = root.find("summary")
    if summary is None:
        raise ValueError("crm_mon output without a summary")
    status = ClusterStatus(dialect=root.tag)
    _summary(summary, status)
    status.nodes = [_node(n) for n in root.iterfind("nodes/node")]
    resources = root.find("resources")
    if resources is not None:
        status.resources = list(_resources(resources, group="", clone=""))
    else:  # grouped by node (`--group-by-node`, some legacy outputs): the node is the parent
        status.resources = [replace(r, node=node.get("name", ""))
                            for node in root.iterfind("nodes/node")
                            for r in _resources(node, group="", clone="")]
    for node in root.iterfind("node_history/node"):
        status.history.extend(_history(node))
    status.failures = [_failure(f) for f in root.iterfind("failures/failure")]
    status.bans = [Constraint(b.get("id", ""), b.get("resource", ""), b.get("node", ""),
                              "Promoted" if _bool(b.get("promoted-only") or b.get("master_only")) else "",
                              parse_score(b.get("weight"))) for b in root.iterfind("bans/ban")]
    return status


def _summary(summary: ET.Element, status: ClusterStatus) -> None:
    dc = summary.find("current_dc")
    if dc is not None:
        status.dc_present = _bool(dc.get("present"))
        status.dc = dc.get("name", "") if status.dc_present else ""
        status.quorate = _bool(dc.get("with_quorum"))
    change = summary.find("last_change")
    status.last_change = parse_time(change.get("time")) if change is not None else None
    configured = summary.find("nodes_configured")
    status.nodes_configured = _int(configured.get("number") if configured is not None else None)
    resources = summary.find("resources_configured")
    if resources is not None:
        status.resources_configured = _int(resources.get("number"))
        status.resources_disabled = _int(resources.get("disabled"))
        status.resources_blocked = _int(resources.get("blocked"))
    options = summary.find("cluster_options")
    status.options = dict(options.attrib) if options is not None else {}


def _node(element: ET.Element) -> Node:
    statuses = {name: _bool(element.get(name)) for name in NODE_STATUSES if name != "dc"}
    statuses["dc"] = _bool(element.get("is_dc"))
    return Node(element.get("name", ""), element.get("id", ""), element.get("type", "member"),
                statuses, _int(element.get("resources_running")))


def _resources(parent: ET.Element, group: str, clone: str) -> Iterator[Resource]:
    for child in parent:
        if child.tag == "resource":
            yield from _instances(child, group, clone)
        elif child.tag == "group":
            yield from _resources(child, child.get("id", "").split(":")[0], clone)
        elif child.tag in ("clone", "bundle"):
            yield from _resources(child, group, child.get("id", ""))
        elif child.tag == "replica":
            yield from _resources(child, group, clone)


def _instances(element: ET.Element, group: str, clone: str) -> Iterator[Resource]:
    statuses = {name: _bool(element.get(name)) for name in RESOURCE_STATUSES}
    common = (element.get("id", ""), normalise_agent(element.get("resource_agent", "")),
              element.get("role", ""))
    nodes = [n.get("name", "") for n in element.iterfind("node")] or [""]
    for node in nodes:
        yield Resource(*common, node=node, group=group, clone=clone, statuses=statuses)


def _history(node: ET.Element) -> list[History]:
    name = node.get("name", "")
    return [History(h.get("id", ""), name, _int(h.get("fail-count")),
                    _int(h.get("migration-threshold"), INFINITY), parse_time(h.get("last-failure")))
            for h in node.iterfind("resource_history")]


def _failure(element: ET.Element) -> FailedAction:
    op_key = element.get("op_key", "")
    task = element.get("task", "")
    interval = _int(element.get("interval"))
    resource = element.get("id") or _resource_of_op_key(op_key, task, interval)
    return FailedAction(resource, element.get("node", ""), task, interval,
                        element.get("exitcode", ""), element.get("exitstatus", ""),
                        parse_time(element.get("last-rc-change")))


def _resource_of_op_key(op_key: str, task: str, interval: int) -> str:
    """`havm_monitor_5000` -> `havm` (resource ids may hold underscores themselves)."""
    suffix = f"_{task}_{interval}" if task else ""
    if suffix and op_key.endswith(suffix):
        return op_key[: -len(suffix)]
    return op_key.rsplit("_", 2)[0]


def parse_cib_configuration(text: str) -> ClusterConfig:
    """The `<configuration>` section (or a whole `<cib>`)."""
    root = _root(text)
    configuration = root if root.tag == "configuration" else root.find("configuration")
    if configuration is None:
        raise ValueError(f"not a CIB configuration: <{root.tag}>")
    config = ClusterConfig()
    resources = configuration.find("resources")
    for primitive in resources.iter("primitive") if resources is not None else ():
        agent = ":".join(p for p in (primitive.get("class"), primitive.get("provider"),
                                     primitive.get("type")) if p)
        config.primitives.append(Primitive(primitive.get("id", ""), agent,
                                           _nvpairs(primitive, "instance_attributes")))
    for location in configuration.iterfind("constraints/rsc_location"):
        node = location.get("node", "")
        score = location.get("score")
        if not node:  # a rule-based constraint: its first node expression names the node
            for expression in location.iterfind("rule/expression"):
                if expression.get("attribute") == "#uname":
                    node, score = expression.get("value", ""), location.find("rule").get("score")  # type: ignore[union-attr]
                    break
        config.constraints.append(Constraint(location.get("id", ""), location.get("rsc", ""), node,
                                             location.get("role", ""), parse_score(score)))
    return config


def _nvpairs(element: ET.Element, section: str) -> dict[str, str]:
    return {pair.get("name", ""): pair.get("value", "")
            for attributes in element.iterfind(section) for pair in attributes.iterfind("nvpair")}


def domain_name_of(xml: str) -> str:
    """The `<name>` of a libvirt domain XML, as a VirtualDomain resource's `config` holds it."""
    root = _root(xml)
    name = root.findtext("name")
    if root.tag != "domain" or not name:
        raise ValueError("not a libvirt domain XML")
    return name.strip()
