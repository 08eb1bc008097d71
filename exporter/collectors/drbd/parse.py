"""Pure parsers of DRBD's state: DRBD 9 `drbdsetup status --json`, DRBD 9
`drbdsetup events2 --now --statistics` (older drbd-utils without `--json`; the replay of
its create/change/destroy lines gives the same model), and DRBD 8.4 `/proc/drbd`.

Amounts are KiB in all three (sizes, read/written, sent/received, out-of-sync, in-flight);
the model keeps KiB and the collector exports bytes. `/proc/drbd` names no resource: its
devices are called `drbd<minor>`, with one unnamed peer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

STATUS_JSON_ARGS = ["status", "--json", "all"]
EVENTS2_ARGS = ["events2", "--now", "--statistics", "all"]


@dataclass
class Device:
    volume: str
    minor: str = ""
    disk_state: str = ""
    client: bool = False
    quorum: bool | None = None
    size_kib: int | None = None
    read_kib: int | None = None
    written_kib: int | None = None
    al_writes: int | None = None
    bm_writes: int | None = None
    upper_pending: int | None = None
    lower_pending: int | None = None


@dataclass
class PeerDevice:
    volume: str
    replication_state: str = ""
    peer_disk_state: str = ""
    peer_client: bool = False
    resync_suspended: bool = False
    received_kib: int | None = None
    sent_kib: int | None = None
    out_of_sync_kib: int | None = None
    pending: int | None = None
    unacked: int | None = None
    sync_percent: float | None = None


@dataclass
class Connection:
    peer_node_id: str
    name: str = ""
    state: str = ""
    peer_role: str = ""
    congested: bool = False
    protocol: str = ""
    ap_in_flight_kib: int | None = None
    rs_in_flight_kib: int | None = None
    peer_devices: list[PeerDevice] = field(default_factory=list)


@dataclass
class Resource:
    name: str
    role: str = ""
    suspended: bool = False
    devices: list[Device] = field(default_factory=list)
    connections: list[Connection] = field(default_factory=list)


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("yes", "true", "1")


def _count(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _ratio(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def parse_status_json(text: str) -> list[Resource]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"drbdsetup status --json is not JSON: {exc}") from None
    if not isinstance(document, list) or not all(isinstance(r, dict) and "name" in r for r in document):
        raise ValueError("drbdsetup status --json: not a list of resources")
    return [_resource_json(r) for r in document]


def _resource_json(data: dict[str, Any]) -> Resource:
    resource = Resource(str(data["name"]), str(data.get("role", "")), _flag(data.get("suspended", False)))
    for device in data.get("devices") or []:
        resource.devices.append(Device(
            str(device.get("volume", "")), str(device.get("minor", "")), str(device.get("disk-state", "")),
            _flag(device.get("client", False)),
            _flag(device["quorum"]) if "quorum" in device else None,
            _count(device.get("size")), _count(device.get("read")), _count(device.get("written")),
            _count(device.get("al-writes")), _count(device.get("bm-writes")),
            _count(device.get("upper-pending")), _count(device.get("lower-pending"))))
    for connection in data.get("connections") or []:
        peer = Connection(str(connection.get("peer-node-id", "")), str(connection.get("name", "")),
                          str(connection.get("connection-state", "")), str(connection.get("peer-role", "")),
                          _flag(connection.get("congested", False)), "",
                          _count(connection.get("ap-in-flight")), _count(connection.get("rs-in-flight")))
        for device in connection.get("peer_devices") or []:
            peer.peer_devices.append(PeerDevice(
                str(device.get("volume", "")), str(device.get("replication-state", "")),
                str(device.get("peer-disk-state", "")), _flag(device.get("peer-client", False)),
                _flag(device.get("resync-suspended", "no") not in ("no", False)),
                _count(device.get("received")), _count(device.get("sent")),
                _count(device.get("out-of-sync")), _count(device.get("pending")),
                _count(device.get("unacked")), _ratio(device.get("percent-in-sync"))))
        resource.connections.append(peer)
    return resource


_EVENT = re.compile(r"^(?:\S+\s+)?(exists|create|change|destroy)\s+"
                    r"(resource|device|connection|peer-device|path)\s+(.*)$")


def parse_events2(text: str) -> list[Resource]:
    """Replays `events2` lines (`exists`/`create`/`change`/`destroy`, with or without a leading
    timestamp) into the state they end in; `exists -` and `call`/`response` lines are skipped."""
    resources: dict[str, Resource] = {}
    seen = False
    for line in text.splitlines():
        found = _EVENT.match(line.strip())
        if found is None:
            if line.strip() and not line.strip().startswith(("exists -", "call ", "response ")):
                raise ValueError(f"not an events2 line: {line[:80]!r}")
            seen = seen or line.strip() == "exists -"
            continue
        seen = True
        action, kind, rest = found.groups()
        fields = dict(item.split(":", 1) for item in rest.split() if ":" in item)
        if "name" not in fields:
            raise ValueError(f"events2 line without a name: {line[:80]!r}")
        _apply_event(resources, action, kind, fields)
    if not seen:
        raise ValueError("empty events2 output")
    return list(resources.values())


def _apply_event(resources: dict[str, Resource], action: str, kind: str, fields: dict[str, str]) -> None:
    name = fields["name"]
    if kind == "resource":
        if action == "destroy":
            resources.pop(name, None)
            return
        resource = resources.setdefault(name, Resource(name))
        resource.role = fields.get("role", resource.role)
        if "suspended" in fields:
            resource.suspended = fields["suspended"] != "no"
        return
    resource = resources.setdefault(name, Resource(name))
    if kind == "device":
        _update_device(resource, action, fields)
    elif kind in ("connection", "peer-device"):
        _update_connection(resource, action, kind, fields)


def _update_device(resource: Resource, action: str, fields: dict[str, str]) -> None:
    volume = fields.get("volume", "0")
    resource.devices = [d for d in resource.devices if d.volume != volume or action != "destroy"]
    if action == "destroy":
        return
    device = next((d for d in resource.devices if d.volume == volume), None)
    if device is None:
        device = Device(volume)
        resource.devices.append(device)
    device.minor = fields.get("minor", device.minor)
    device.disk_state = fields.get("disk", device.disk_state)
    device.client = _flag(fields.get("client", device.client))
    if "quorum" in fields:
        device.quorum = _flag(fields["quorum"])
    for key, attribute in (("size", "size_kib"), ("read", "read_kib"), ("written", "written_kib"),
                           ("al-writes", "al_writes"), ("bm-writes", "bm_writes"),
                           ("upper-pending", "upper_pending"), ("lower-pending", "lower_pending")):
        if key in fields:
            setattr(device, attribute, _count(fields[key]))


def _update_connection(resource: Resource, action: str, kind: str, fields: dict[str, str]) -> None:
    peer_id = fields.get("peer-node-id", "")
    connection = next((c for c in resource.connections if c.peer_node_id == peer_id), None)
    if action == "destroy" and kind == "connection":
        resource.connections = [c for c in resource.connections if c.peer_node_id != peer_id]
        return
    if connection is None:
        connection = Connection(peer_id)
        resource.connections.append(connection)
    connection.name = fields.get("conn-name", connection.name)
    if kind == "connection":
        connection.state = fields.get("connection", connection.state)
        connection.peer_role = fields.get("role", connection.peer_role)
        connection.congested = _flag(fields.get("congested", connection.congested))
        for key, attribute in (("ap-in-flight", "ap_in_flight_kib"), ("rs-in-flight", "rs_in_flight_kib")):
            if key in fields:
                setattr(connection, attribute, _count(fields[key]))
        return
    volume = fields.get("volume", "0")
    connection.peer_devices = [d for d in connection.peer_devices
                               if d.volume != volume or action != "destroy"]
    if action == "destroy":
        return
    device = next((d for d in connection.peer_devices if d.volume == volume), None)
    if device is None:
        device = PeerDevice(volume)
        connection.peer_devices.append(device)
    device.replication_state = fields.get("replication", device.replication_state)
    device.peer_disk_state = fields.get("peer-disk", device.peer_disk_state)
    device.peer_client = _flag(fields.get("peer-client", device.peer_client))
    device.resync_suspended = fields.get("resync-suspended", "no") != "no"
    for key, attribute in (("received", "received_kib"), ("sent", "sent_kib"),
                           ("out-of-sync", "out_of_sync_kib"), ("pending", "pending"),
                           ("unacked", "unacked")):
        if key in fields:
            setattr(device, attribute, _count(fields[key]))
    if "done" in fields:
        device.sync_percent = _ratio(fields["done"])
    elif device.replication_state == "Established":
        device.sync_percent = 100.0


_MINOR = re.compile(r"^\s*(\d+): cs:(\S+) ro:(\S+?)/(\S+) ds:(\S+?)/(\S+) (\S)")
_COUNTERS = re.compile(r"\b([a-z]{2,3}):(\d+)\b")
# 8.4 folds replication into the connection state; DRBD 9 says Connected + the replication state
_REPLICATING_84 = ("Sync", "PausedSync", "Verify", "StartingSync", "WFBitMap", "WFSyncUUID", "Ahead",
                   "Behind")
_SYNCED = re.compile(r"sync'ed:\s*([\d.]+)%")


def parse_proc_drbd(text: str) -> list[Resource]:
    """DRBD 8.4's `/proc/drbd`; a DRBD 9 one (only the version lines) gives no resources."""
    if not text.startswith("version:"):
        raise ValueError("not /proc/drbd")
    resources: list[Resource] = []
    for line in text.splitlines():
        if found := _MINOR.match(line):
            minor, cstate, role, peer_role, disk, peer_disk, protocol = found.groups()
            replicating = cstate.startswith(_REPLICATING_84)
            replication = cstate if replicating else "Established" if cstate == "Connected" else "Off"
            connection = Connection("", "", "Connected" if replicating else cstate, peer_role,
                                    protocol=protocol, peer_devices=[PeerDevice("0", replication, peer_disk)])
            resources.append(Resource(f"drbd{minor}", role, devices=[Device("0", minor, disk)],
                                      connections=[connection]))
        elif resources and (counters := dict(_COUNTERS.findall(line))):
            _counters_84(resources[-1], {k: int(v) for k, v in counters.items()})
        elif resources and (synced := _SYNCED.search(line)):
            resources[-1].connections[0].peer_devices[0].sync_percent = float(synced.group(1))
    return resources


def _counters_84(resource: Resource, counters: dict[str, int]) -> None:
    device, connection = resource.devices[0], resource.connections[0]
    peer = connection.peer_devices[0]
    device.read_kib, device.written_kib = counters.get("dr"), counters.get("dw")
    device.al_writes, device.bm_writes = counters.get("al"), counters.get("bm")
    device.lower_pending, device.upper_pending = counters.get("lo"), counters.get("ap")
    peer.sent_kib, peer.received_kib = counters.get("ns"), counters.get("nr")
    peer.pending, peer.unacked = counters.get("pe"), counters.get("ua")
    peer.out_of_sync_kib = counters.get("oos")
    if peer.sync_percent is None and peer.replication_state == "Established":
        peer.sync_percent = 100.0 if not peer.out_of_sync_kib else None


def split_brain_markers(names: list[str]) -> set[tuple[str, str]]:
    """(resource, volume) of the marker files DRBD's split-brain handler leaves, named
    `drbd-split-brain-detected-<resource>-<volume>` (ha_cluster_exporter's convention)."""
    found = set()
    for name in names:
        if name.startswith("drbd-split-brain-detected-"):
            resource, _, volume = name.removeprefix("drbd-split-brain-detected-").rpartition("-")
            if resource:
                found.add((resource, volume))
    return found
