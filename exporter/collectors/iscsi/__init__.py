"""The iSCSI collector (fault iscsi_session): open-iscsi sessions, connections and their
disks from sysfs per scrape; per-session counters from `iscsiadm -m session -r SID -s` in
the background; node records set to log in automatically compared with live sessions, so
a target that never logged in (a CHAP failure leaves no session) still shows."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from exporter.collector import SysfsCollector, register
from exporter.collectors.iscsi.sessions import (
    NodeRecord,
    Session,
    parse_session_stats,
    read_node_records,
    read_sessions,
)
from exporter.commands import CommandError
from exporter.metrics import Family, counter, gauge
from exporter.options import Option, duration
from exporter.poller import Poller, first_wait
from exporter.settings import Settings
from exporter.shared import Shared
from exporter.sysfs import SysfsReader

S = ["sid", "target"]
NAMED_STATS = {
    "txdata_octets": ("iscsi_session_tx_data_bytes", "Data bytes the session sent."),
    "rxdata_octets": ("iscsi_session_rx_data_bytes", "Data bytes the session received."),
    "digest_err": ("iscsi_session_digest_errors", "Header/data digest errors of the session."),
    "timeout_err": ("iscsi_session_timeout_errors", "Timeouts of the session (nop-out ping, recv)."),
}


@dataclass
class IscsiSnapshot:
    sessions: list[Session]
    nodes: list[NodeRecord]


class IscsiStatsPoller:
    """iscsiadm's counters of every session `sessions()` names (the sysfs sessions)."""

    def __init__(self, settings: Settings, sessions: Callable[[], list[str]]) -> None:
        self.iscsiadm = ISCSIADM.of(settings)
        self.timeout = TIMEOUT.of(settings)
        self._sessions = sessions
        self.stats: dict[str, dict[str, int]] = {}
        self.errors: dict[str, str] = {}
        self.background = Poller("iscsiadm", self.poll, INTERVAL.of(settings),
                                 first_wait(settings.collector_timeout))

    async def _one(self, sid: str) -> None:
        try:
            output = await self.background.output([self.iscsiadm, "-m", "session", "-r", sid, "-s"],
                                                  self.timeout)
            self.stats[sid] = parse_session_stats(output)
        except CommandError as exc:
            self.errors[sid] = str(exc)
        except ValueError:
            self.background.failed("garbage")
            self.errors[sid] = "garbage"
        else:
            self.errors.pop(sid, None)

    async def poll(self) -> None:
        sids = self._sessions()
        await asyncio.gather(*(self._one(sid) for sid in sids))
        for gone in set(self.stats) - set(sids):
            del self.stats[gone]
        for gone in set(self.errors) - set(sids):
            del self.errors[gone]


def session_families(snapshot: IscsiSnapshot) -> list[Family]:
    info = gauge("iscsi_session_info", "An iSCSI session: target, portal, initiator and iface.",
                 ["sid", "target", "portal", "initiator", "iface"])
    state = gauge("iscsi_session_state", "The session's state (LOGGED_IN, FAILED, FREE): 1 for the "
                  "current one.", [*S, "state"])
    logged_in = gauge("iscsi_session_logged_in", "Whether the session is LOGGED_IN (1) or not (0).", S)
    timeouts = gauge("iscsi_session_timeout_seconds", "The session's recovery, abort, LUN and target "
                     "reset timeouts.", [*S, "timeout"])
    connection = gauge("iscsi_connection_info", "A connection of the session, with its state.",
                       ["sid", "connection", "address", "port", "state"])
    ctimeouts = gauge("iscsi_connection_timeout_seconds", "The connection's ping and receive timeouts.",
                      ["sid", "connection", "timeout"])
    device = gauge("iscsi_device_running", "Whether the SCSI device behind the session is running (1) "
                   "or offline/blocked (0).", [*S, "scsi_address", "device", "state"])
    for session in snapshot.sessions:
        key = (session.sid, session.target)
        info.add((session.sid, session.target, session.portal, session.initiator, session.iface), 1)
        state.add((*key, session.state), 1)
        logged_in.add(key, 1 if session.state == "LOGGED_IN" else 0)
        for name, seconds in sorted(session.timeouts.items()):
            timeouts.add((*key, name.removesuffix("_tmo")), seconds)
        for conn in session.connections:
            connection.add((session.sid, conn.name, conn.address, conn.port, conn.state), 1)
            for name, seconds in sorted(conn.timeouts.items()):
                ctimeouts.add((session.sid, conn.name, name.removesuffix("_tmo")), seconds)
        for scsi in session.devices:
            device.add((*key, scsi.address, scsi.block, scsi.state), 1 if scsi.state == "running" else 0)
    sessions = gauge("iscsi_sessions", "iSCSI sessions the kernel knows of.")
    sessions.add((), len(snapshot.sessions))
    expected = gauge("iscsi_node_logged_in", "For every node record set to log in automatically: "
                     "whether a LOGGED_IN session to that target and portal exists (1) or not (0).",
                     ["target", "portal", "iface"])
    live = {(s.target, s.portal) for s in snapshot.sessions if s.state == "LOGGED_IN"}
    for node in snapshot.nodes:
        if node.startup in ("automatic", "onboot"):
            found = (node.target, node.portal) in live
            expected.add((node.target, node.portal, node.iface), 1 if found else 0)
    return [sessions, info, state, logged_in, timeouts, connection, ctimeouts, device, expected]


def stats_families(sessions: list[Session], poller: IscsiStatsPoller) -> list[Family]:
    targets = {s.sid: s.target for s in sessions}
    named = {stat: counter(name, doc, S) for stat, (name, doc) in NAMED_STATS.items()}
    pdus = counter("iscsi_session_pdus", "PDUs of the session by type (scsicmd, scsirsp, datain, "
                   "dataout, r2t, noptx, noprx, login, logout, tmfcmd, rjt, async, ...).", [*S, "type"])
    errors = gauge("iscsi_session_stats_error", "Why the last `iscsiadm -s` for the session failed "
                   "(exec_failed, timeout, exit_N, garbage).", [*S, "reason"])
    for sid, stats in sorted(poller.stats.items()):
        if sid not in targets:
            continue
        key = (sid, targets[sid])
        for stat, value in sorted(stats.items()):
            if stat in named:
                named[stat].add(key, value)
            elif stat.endswith("_pdus"):
                pdus.add((*key, stat.removesuffix("_pdus")), value)
    for sid, reason in sorted(poller.errors.items()):
        if sid in targets:
            errors.add((sid, targets[sid], reason), 1)
    return [*named.values(), pdus, errors]


class IscsiCollector(SysfsCollector[IscsiSnapshot]):
    name = "iscsi"

    def __init__(self, settings: Settings) -> None:
        self._nodes_dir = Path(NODES_DIR.of(settings))
        self.poller = IscsiStatsPoller(settings, self._session_ids)
        super().__init__(settings.path_sysfs, self._read_snapshot, session_families)

    def _session_ids(self) -> list[str]:
        return [session.sid for session in self.last.sessions] if self.last else []

    def _read_snapshot(self, reader: SysfsReader) -> IscsiSnapshot:
        return IscsiSnapshot(read_sessions(reader), read_node_records(self._nodes_dir))

    async def collect(self) -> list[Family]:
        families = await super().collect()
        snapshot = self.last
        assert snapshot is not None
        if not snapshot.sessions:
            return families
        await self.poller.background.first_round()
        health = self.poller.background.families()
        return [*families, *stats_families(snapshot.sessions, self.poller), *health]

    async def close(self) -> None:
        await self.poller.background.stop()


ISCSIADM = Option("iscsiadm.path", "iscsiadm", "iscsiadm to run for session counters.")
NODES_DIR = Option("iscsi.nodes-dir", "etc/iscsi/nodes", "open-iscsi's node database (which targets "
                   "should log in).", under_rootfs=True)
INTERVAL = Option("iscsiadm.interval", 30.0, "How often iscsiadm reads session counters, in the "
                  "background.", parse=duration, shown="30s")
TIMEOUT = Option("iscsiadm.timeout", 10.0, "Time one iscsiadm run may take before it is killed.",
                 parse=duration, shown="10s")


@register("iscsi", default_enabled=True, options=[ISCSIADM, NODES_DIR, INTERVAL, TIMEOUT],
          description="open-iscsi sessions, connections, disks, expected logins; iscsiadm counters")
def create(settings: Settings, _shared: Shared) -> IscsiCollector:
    return IscsiCollector(settings)
