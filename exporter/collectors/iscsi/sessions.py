"""open-iscsi initiator state (fault iscsi_session): sessions, connections and their SCSI devices from sysfs
(scsi_transport_iscsi), counters from `iscsiadm -m session -r SID -s`, and the node records
that should log in at boot.

CHAP credentials are never read: the session attributes `username*`/`password*` are not
opened, and only the non-secret keys of node records are kept.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from exporter.sysfs import SysfsReader, read_text

SESSION_TIMEOUTS = ("recovery_tmo", "abort_tmo", "lu_reset_tmo", "tgt_reset_tmo")
CONNECTION_TIMEOUTS = ("ping_tmo", "recv_tmo")
NODE_KEYS = ("node.name", "node.tpgt", "node.startup", "node.conn[0].address", "node.conn[0].port",
             "iface.iscsi_ifacename")  # nothing with auth in it is ever kept


@dataclass
class ScsiDevice:
    address: str  # host:channel:id:lun
    state: str  # running, offline, blocked, ...
    block: str  # sdb, or "" when no disk is attached


@dataclass
class Connection:
    name: str  # connection<sid>:<cid>
    address: str
    port: str
    state: str
    timeouts: dict[str, int] = field(default_factory=dict)


@dataclass
class Session:
    sid: str
    target: str
    state: str
    initiator: str
    iface: str
    timeouts: dict[str, int] = field(default_factory=dict)
    connections: list[Connection] = field(default_factory=list)
    devices: list[ScsiDevice] = field(default_factory=list)

    @property
    def portal(self) -> str:
        if not self.connections:
            return ""
        connection = self.connections[0]
        return f"{connection.address}:{connection.port}"


def _session_devices(reader: SysfsReader, session_dir: Path) -> list[ScsiDevice]:
    """SCSI devices under the session's device: `target<h>:<c>:<i>/<h>:<c>:<i>:<l>/`."""
    devices = []
    for target in reader.list_dir(session_dir):
        if not target.startswith("target"):
            continue
        for lun in reader.list_dir(session_dir / target):
            if not re.fullmatch(r"\d+:\d+:\d+:\d+", lun):
                continue
            blocks = reader.list_dir(session_dir / target / lun / "block")
            state = reader.read_str(session_dir / target / lun / "state") or "unknown"
            devices.append(ScsiDevice(lun, state, blocks[0] if blocks else ""))
    return devices


def _first(reader: SysfsReader, base: Path, *names: str) -> str:
    for name in names:
        if value := reader.read_str(base / name):
            return value
    return ""


def read_sessions(reader: SysfsReader) -> list[Session]:
    sessions = []
    connections = reader.list_dir(reader.path("class/iscsi_connection"))
    for name in reader.list_dir(reader.path("class/iscsi_session")):
        match = re.fullmatch(r"session(\d+)", name)
        if match is None:
            continue
        sid = match.group(1)
        base = reader.path(f"class/iscsi_session/{name}")
        session = Session(
            sid=sid,
            target=reader.read_str(base / "targetname") or "",
            state=reader.read_str(base / "state") or "UNKNOWN",
            initiator=reader.read_str(base / "initiatorname") or "",
            iface=reader.read_str(base / "ifacename") or "",
            timeouts={t: v for t in SESSION_TIMEOUTS if (v := reader.read_int(base / t)) is not None},
        )
        for connection in connections:
            if not connection.startswith(f"connection{sid}:"):
                continue
            cbase = reader.path(f"class/iscsi_connection/{connection}")
            session.connections.append(Connection(
                name=connection,
                address=_first(reader, cbase, "persistent_address", "address"),
                port=_first(reader, cbase, "persistent_port", "port"),
                state=reader.read_str(cbase / "state") or "",
                timeouts={t: v for t in CONNECTION_TIMEOUTS if (v := reader.read_int(cbase / t)) is not None},
            ))
        # class/iscsi_session/sessionN -> .../hostH/sessionN/iscsi_session/sessionN; the
        # SCSI targets of the session hang off .../hostH/sessionN.
        session.devices = _session_devices(reader, Path(os.path.realpath(base)).parent.parent)
        sessions.append(session)
    return sessions


_STAT = re.compile(r"^\s*([a-z][a-z0-9_]*):\s+(\d+)\s*$")


def parse_session_stats(text: str) -> dict[str, int]:
    """`iscsiadm -m session -r SID -s`: `name: value` lines under `iSCSI SNMP:` and
    `iSCSI Extended Statistics:`; raises ValueError when there are none."""
    stats = {m.group(1): int(m.group(2)) for line in text.splitlines() if (m := _STAT.match(line))}
    if not stats:
        raise ValueError("iscsiadm -s: no statistics in the output")
    return stats


@dataclass(frozen=True)
class NodeRecord:
    target: str
    portal: str
    iface: str
    startup: str  # automatic, manual, onboot


def parse_node_record(text: str) -> dict[str, str]:
    """`key = value` lines of an open-iscsi node record, keeping only NODE_KEYS."""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        key = key.strip()
        if sep and key in NODE_KEYS:
            values[key] = value.strip()
    return values


def read_node_records(nodes_dir: Path) -> list[NodeRecord]:
    """`<nodes>/<target>/<address>,<port>,<tpgt>/<iface>` (or the older flat file
    `<nodes>/<target>/<address>,<port>,<tpgt>`). A missing directory means no records."""
    records: list[NodeRecord] = []
    if not nodes_dir.is_dir():
        return records
    for target_dir in sorted(nodes_dir.iterdir()):
        if not target_dir.is_dir():
            continue
        for portal_entry in sorted(target_dir.iterdir()):
            files = sorted(portal_entry.iterdir()) if portal_entry.is_dir() else [portal_entry]
            for record_file in files:
                try:
                    values = parse_node_record(read_text(record_file))
                except OSError:
                    continue
                portal = _portal_of(values, portal_entry.name)
                iface = record_file.name if portal_entry.is_dir() else "default"
                records.append(NodeRecord(
                    target=values.get("node.name", target_dir.name), portal=portal,
                    iface=values.get("iface.iscsi_ifacename", iface),
                    startup=values.get("node.startup", "manual")))
    return records


def _portal_of(values: dict[str, str], entry_name: str) -> str:
    address, port = values.get("node.conn[0].address"), values.get("node.conn[0].port")
    if address and port:
        return f"{address}:{port}"
    host_port, _, _tpgt = entry_name.rpartition(",")
    host, _, port = host_port.rpartition(",")
    return f"{host}:{port}" if host else entry_name
