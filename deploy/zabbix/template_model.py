"""What the Zabbix template is made of, as data: items read from the exporter's one scrape
through Prometheus preprocessing, discovery rules over a metric family, and triggers that
stand for the bundle's alerts.

Expressions name the items of their own rule or template as `@name`; thresholds are
`$threshold` (a key of `alerts/config.yml`, which becomes the user macro `{$KVM.THRESHOLD}`
with the config's value as its default) and `$for` is the alert's own `for`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class Item:
    """A dependent item: `family{<the rule's labels>,<matchers>}<value_filter>`, its value, one
    label (`output="label:<name>"`), the code of a combination of labels (`output=
    "labels:state,reason"`, through `codes`) or an aggregate (`output="sum"`, `count`, ...)."""

    name: str  # short name: the key is kvm.<rule or host>.<name>
    title: str
    family: str
    matchers: str = ""
    value_filter: str = ""
    output: str = "value"
    value_type: str = "FLOAT"
    units: str = ""
    per_second: bool = False
    codes: dict[str, int] | None = None  # label values (joined by "/") -> the numbers of a value map
    valuemap: str | None = None
    missing: str | None = None  # the value when no series matches; None: no value then
    description: str = ""


@dataclass(frozen=True, kw_only=True)
class Trigger:
    """A trigger standing for the bundle alert `alert` (its fault, severity, summary and
    runbook come from there)."""

    alert: str
    expression: str
    note: str = ""  # where the trigger's form differs from the rule's


@dataclass(frozen=True, kw_only=True)
class Graph:
    name: str
    items: tuple[str, ...]
    kind: str = "NORMAL"


@dataclass(frozen=True, kw_only=True)
class Discovery:
    """One low-level discovery rule over the series of `family`: one entity per distinct
    value of `labels`, each label an LLD macro ({#DOMAIN} for `domain`)."""

    name: str  # short name: the rule's key is kvm.<name>.discovery
    title: str
    family: str
    labels: tuple[str, ...]
    subject: str  # how an entity is named in items and triggers: "VM {#DOMAIN}"
    matchers: str = ""  # which series of the family count
    only: dict[str, str] = field(default_factory=dict)  # label -> regex the value must match
    never: dict[str, str] = field(default_factory=dict)  # label -> regex it must not match
    items: tuple[Item, ...] = ()
    triggers: tuple[Trigger, ...] = ()
    graphs: tuple[Graph, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Template:
    name: str
    title: str
    description: str
    connection: str  # the connection macros: {$<connection>.SCHEME}, .PORT, .PATH, .USER, ...
    keys: str  # item keys: <keys>.<item name>
    default_port: int
    items: tuple[Item, ...] = ()
    triggers: tuple[Trigger, ...] = ()
    discoveries: tuple[Discovery, ...] = ()
    graphs: tuple[Graph, ...] = ()
    down_alert: str = ""  # the alert the "exporter down" trigger stands for
