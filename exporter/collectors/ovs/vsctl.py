"""Open vSwitch bridges, ports and interfaces (fault vswitch_down) from `ovs-vsctl --format=json`.

One ovs-vsctl run lists the Bridge, Port and Interface tables (one JSON document per line).
OVSDB's JSON wraps values: `["uuid", "..."]`, `["set", [...]]`, `["map", [[k, v], ...]]`;
an empty optional column is `["set", []]`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

BRIDGE_COLUMNS = "_uuid,name,ports,datapath_type"
PORT_COLUMNS = "_uuid,name,interfaces"
INTERFACE_COLUMNS = "_uuid,name,type,link_state,admin_state,link_resets,statistics"


def vsctl_arguments() -> list[str]:
    return ["--format=json",
            "--", f"--columns={BRIDGE_COLUMNS}", "list", "Bridge",
            "--", f"--columns={PORT_COLUMNS}", "list", "Port",
            "--", f"--columns={INTERFACE_COLUMNS}", "list", "Interface"]


@dataclass
class OvsInterface:
    name: str
    type: str
    bridge: str
    port: str
    link_state: str
    admin_state: str
    link_resets: int | None
    statistics: dict[str, int] = field(default_factory=dict)


@dataclass
class OvsBridge:
    name: str
    datapath_type: str
    ports: list[str]


@dataclass
class OvsState:
    bridges: list[OvsBridge]
    interfaces: list[OvsInterface]


def _atom(value: Any) -> Any:
    """Unwrap OVSDB JSON: uuid -> str, set -> list (a one-element set is its element in
    ovs-vsctl output already), map -> dict, empty set -> None."""
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
        kind, inner = value
        if kind == "uuid":
            return inner
        if kind == "set":
            return [_atom(v) for v in inner] or None
        if kind == "map":
            return {k: _atom(v) for k, v in inner}
    return value


def _rows(document: str) -> list[dict[str, Any]]:
    table = json.loads(document)
    if not isinstance(table, dict) or not isinstance(table.get("headings"), list):
        raise ValueError("ovs-vsctl JSON without headings")
    data = table.get("data")
    if not isinstance(data, list) or not all(isinstance(row, list) for row in data):
        raise ValueError("ovs-vsctl JSON without a list of rows")
    return [dict(zip(table["headings"], (_atom(v) for v in row), strict=True)) for row in data]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def parse_vsctl(output: str) -> OvsState:
    """The three tables printed by `vsctl_arguments()`; raises ValueError on anything else."""
    documents = [line for line in output.splitlines() if line.strip()]
    if len(documents) != 3:
        raise ValueError(f"expected 3 ovs-vsctl tables, got {len(documents)}")
    try:
        bridges, ports, interfaces = (_rows(d) for d in documents)
    except (json.JSONDecodeError, TypeError) as exc:
        raise ValueError(f"ovs-vsctl output is not the expected JSON: {exc}") from exc
    port_by_uuid = {_text(p.get("_uuid")): p for p in ports}
    where: dict[str, tuple[str, str]] = {}  # interface uuid -> (bridge, port)
    result_bridges = []
    for bridge in bridges:
        names = []
        for port_uuid in _as_list(bridge.get("ports")):
            port = port_by_uuid.get(_text(port_uuid))
            if port is None:
                continue
            names.append(_text(port.get("name")))
            for interface_uuid in _as_list(port.get("interfaces")):
                where[_text(interface_uuid)] = (_text(bridge.get("name")), _text(port.get("name")))
        result_bridges.append(OvsBridge(_text(bridge.get("name")), _text(bridge.get("datapath_type")),
                                        sorted(names)))
    result_interfaces = []
    for interface in interfaces:
        bridge_name, port_name = where.get(_text(interface.get("_uuid")), ("", ""))
        statistics = interface.get("statistics")
        resets = interface.get("link_resets")
        result_interfaces.append(OvsInterface(
            name=_text(interface.get("name")), type=_text(interface.get("type")) or "system",
            bridge=bridge_name, port=port_name,
            link_state=_text(interface.get("link_state")), admin_state=_text(interface.get("admin_state")),
            link_resets=resets if isinstance(resets, int) else None,
            statistics={k: v for k, v in statistics.items() if isinstance(v, int)}
            if isinstance(statistics, dict) else {},
        ))
    return OvsState(sorted(result_bridges, key=lambda b: b.name),
                    sorted(result_interfaces, key=lambda i: i.name))
