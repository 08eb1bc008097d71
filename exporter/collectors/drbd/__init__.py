"""The DRBD collector (fault replication_lag): per resource, volume and peer the role, disk,
connection, replication and peer-disk states, out-of-sync bytes, resync progress, the
pending/unacked/in-flight figures that show replication falling behind, and split-brain.

DRBD 9: `drbdsetup status --json` (drbd-utils >= 9.10), or `drbdsetup events2 --now
--statistics` where that is refused; DRBD 8.4: `/proc/drbd`. Commands run in the background
on their own interval with a timeout, the last answer served with its age. Split-brain has
no machine-readable state: DRBD's `split-brain` handler is pointed at a script that leaves a
marker file `drbd-split-brain-detected-<resource>-<volume>` in `--drbd.split-brain-dir`
(ha_cluster_exporter's convention, so existing handlers keep working). A host with neither
drbdsetup nor `/proc/drbd` gets `kvm_drbd_present 0` and nothing runs.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from exporter.collector import register
from exporter.collectors.cluster import Answers, ClusterCollector, flag, installed, status_families
from exporter.collectors.drbd.parse import (
    EVENTS2_ARGS,
    STATUS_JSON_ARGS,
    Resource,
    parse_events2,
    parse_proc_drbd,
    parse_status_json,
    split_brain_markers,
)
from exporter.commands import CommandError, parse_off_loop
from exporter.metrics import Family, counter, gauge
from exporter.options import Option, duration
from exporter.poller import Poller, first_wait
from exporter.settings import Settings
from exporter.shared import Shared

KIB = 1024
R, D, C = ["resource"], ["resource", "volume"], ["resource", "peer_node_id", "peer"]
PD = [*C, "volume"]


class DrbdPoller:
    def __init__(self, settings: Settings) -> None:
        self.drbdsetup = DRBDSETUP.of(settings)
        self.proc_drbd = Path(settings.path_procfs) / "drbd"
        self.split_brain_dir = Path(SPLIT_BRAIN_DIR.of(settings))
        self.timeout = TIMEOUT.of(settings)
        self.resources: list[Resource] = []
        self.split_brain: set[tuple[str, str]] = set()
        self.source = ""
        self.answers = Answers()
        self._json: bool | None = None  # does this drbdsetup speak JSON? learnt on the first run
        self.background = Poller("drbd", self.poll, INTERVAL.of(settings),
                                 first_wait(settings.collector_timeout))

    def present(self) -> bool:
        return installed(self.drbdsetup) or self.proc_drbd.exists()

    async def _drbdsetup(self) -> tuple[str, list[Resource]]:
        if self._json is not False:
            # a hang or a missing program raises here: that is a failure, nothing to learn
            code, output = await self.background.status([self.drbdsetup, *STATUS_JSON_ARGS], self.timeout)
            try:
                if code != 0:
                    raise CommandError(f"exit_{code}")
                resources = await parse_off_loop(parse_status_json, output)
            except (CommandError, ValueError) as exc:
                if self._json:  # JSON worked before: this is a failure, not an old drbd-utils
                    if isinstance(exc, CommandError):
                        self.background.failed(str(exc))
                    raise
                self._json = False  # drbd-utils < 9.10: `--json` is an unknown option
            else:
                self._json = True
                return "status-json", resources
        output = await self.background.output([self.drbdsetup, *EVENTS2_ARGS], self.timeout)
        return "events2", await parse_off_loop(parse_events2, output)

    async def _proc(self) -> tuple[str, list[Resource]]:
        text = await asyncio.to_thread(self.proc_drbd.read_text)
        return "proc", parse_proc_drbd(text)

    async def poll(self) -> None:
        use_proc = not await asyncio.to_thread(installed, self.drbdsetup)
        command = "proc-drbd" if use_proc else "drbdsetup"
        try:
            self.source, self.resources = await (self._proc() if use_proc else self._drbdsetup())
        except (CommandError, ValueError, OSError) as exc:
            self.answers.failed(command, CommandError("read_failed") if isinstance(exc, OSError) else exc,
                                self.background)
        else:
            self.answers.succeeded(command)
        self.split_brain = await asyncio.to_thread(self._markers)

    def _markers(self) -> set[tuple[str, str]]:
        try:
            return split_brain_markers(os.listdir(self.split_brain_dir))
        except OSError:  # no handler installed yet: no marker directory
            return set()


def resource_families(resources: list[Resource], split_brain: set[tuple[str, str]]) -> list[Family]:
    role = gauge("drbd_resource_role", "The resource's local role (Primary, Secondary, Unknown): 1 "
                 "for the current one.", [*R, "role"])
    suspended = gauge("drbd_resource_suspended", "Whether I/O on the resource is suspended (1) or "
                      "not (0).", R)
    families = [role, suspended]
    for resource in resources:
        role.add((resource.name, resource.role), 1)
        suspended.add((resource.name,), flag(resource.suspended))
    families += device_families(resources, split_brain)
    families += connection_families(resources)
    return families


def _add(family: Family, key: tuple[str, ...], value: int | float | None, scale: int = 1) -> None:
    if value is not None:
        family.add(key, value * scale)


def device_families(resources: list[Resource], split_brain: set[tuple[str, str]]) -> list[Family]:
    disk = gauge("drbd_device_disk_state", "The local disk state of a volume (UpToDate, Inconsistent, "
                 "Outdated, Diskless, Failed, ...): 1 for the current one.", [*D, "minor", "state"])
    quorum = gauge("drbd_device_quorum", "Whether the volume has DRBD quorum (1) or not (0).", D)
    size = gauge("drbd_device_size_bytes", "Size of the volume, in bytes.", D)
    totals = {name: counter(f"drbd_device_{name}", doc, D) for name, doc in (
        ("read_bytes", "Bytes read from the volume's backing disk."),
        ("written_bytes", "Bytes written to the volume's backing disk."),
        ("al_writes", "Activity-log metadata updates of the volume."),
        ("bm_writes", "Bitmap metadata updates of the volume."))}
    pending = {name: gauge(f"drbd_device_{name}", doc, D) for name, doc in (
        ("upper_pending", "Requests of the upper layer (the VM) not yet completed by DRBD."),
        ("lower_pending", "Requests to the backing disk not yet completed."))}
    brain = gauge("drbd_split_brain", "Whether DRBD's split-brain handler reported the volume split "
                  "(a marker file in --drbd.split-brain-dir) (1) or not (0).", D)
    for resource in resources:
        for device in resource.devices:
            key = (resource.name, device.volume)
            disk.add((*key, device.minor, device.disk_state), 1)
            if device.quorum is not None:
                quorum.add(key, flag(device.quorum))
            _add(size, key, device.size_kib, KIB)
            _add(totals["read_bytes"], key, device.read_kib, KIB)
            _add(totals["written_bytes"], key, device.written_kib, KIB)
            _add(totals["al_writes"], key, device.al_writes)
            _add(totals["bm_writes"], key, device.bm_writes)
            _add(pending["upper_pending"], key, device.upper_pending)
            _add(pending["lower_pending"], key, device.lower_pending)
            brain.add(key, flag(key in split_brain))
    known = {(r.name, d.volume) for r in resources for d in r.devices}
    for key in sorted(split_brain - known):
        brain.add(key, 1)
    return [disk, quorum, size, *totals.values(), *pending.values(), brain]


def connection_families(resources: list[Resource]) -> list[Family]:
    state = gauge("drbd_connection_state", "The connection to a peer (Connected, Connecting, StandAlone, "
                  "WFConnection, Disconnecting, ...): 1 for the current one.", [*C, "state"])
    peer_role = gauge("drbd_connection_peer_role", "The peer's role as this node sees it: 1 for the "
                      "current one.", [*C, "role"])
    congested = gauge("drbd_connection_congested", "Whether the connection is congested (1) or not (0).", C)
    protocol = gauge("drbd_connection_protocol", "The replication protocol (A async, B semi-sync, C sync; "
                     "DRBD 8.4's /proc/drbd shows it).", [*C, "protocol"])
    in_flight = {name: gauge(f"drbd_connection_{name}_in_flight_bytes", doc, C) for name, doc in (
        ("ap", "Application (VM) writes sent to the peer and not yet acknowledged, in bytes."),
        ("rs", "Resync data in flight to the peer, in bytes."))}
    replication = gauge("drbd_peer_device_replication_state", "Replication of a volume to a peer "
                        "(Established, SyncSource, SyncTarget, Off, Ahead, Behind, ...): 1 for the "
                        "current one.", [*PD, "state"])
    peer_disk = gauge("drbd_peer_device_disk_state", "The peer's disk state of a volume: 1 for the "
                      "current one.", [*PD, "state"])
    out_of_sync = gauge("drbd_peer_device_out_of_sync_bytes", "Bytes of the volume that differ from "
                        "the peer (to be resynced).", PD)
    sync = gauge("drbd_peer_device_sync_ratio", "Share of the volume in sync with the peer, 0 to 1 "
                 "(resync progress while syncing).", PD)
    waiting = {name: gauge(f"drbd_peer_device_{name}", doc, PD) for name, doc in (
        ("pending", "Requests sent to the peer and not yet answered."),
        ("unacked", "Requests received from the peer and not yet acknowledged."))}
    suspended = gauge("drbd_peer_device_resync_suspended", "Whether resync with the peer is "
                      "suspended (1) or not (0).", PD)
    traffic = {name: counter(f"drbd_peer_device_{name}_bytes", f"Bytes {name} over the replication "
                             "link for the volume.", PD) for name in ("sent", "received")}
    for resource in resources:
        for connection in resource.connections:
            key = (resource.name, connection.peer_node_id, connection.name)
            state.add((*key, connection.state), 1)
            if connection.peer_role:
                peer_role.add((*key, connection.peer_role), 1)
            congested.add(key, flag(connection.congested))
            if connection.protocol:
                protocol.add((*key, connection.protocol), 1)
            _add(in_flight["ap"], key, connection.ap_in_flight_kib, KIB)
            _add(in_flight["rs"], key, connection.rs_in_flight_kib, KIB)
            for device in connection.peer_devices:
                pkey = (*key, device.volume)
                replication.add((*pkey, device.replication_state), 1)
                peer_disk.add((*pkey, device.peer_disk_state), 1)
                _add(out_of_sync, pkey, device.out_of_sync_kib, KIB)
                if device.sync_percent is not None:
                    sync.add(pkey, device.sync_percent / 100)
                _add(waiting["pending"], pkey, device.pending)
                _add(waiting["unacked"], pkey, device.unacked)
                suspended.add(pkey, flag(device.resync_suspended))
                _add(traffic["sent"], pkey, device.sent_kib, KIB)
                _add(traffic["received"], pkey, device.received_kib, KIB)
    return [state, peer_role, congested, protocol, *in_flight.values(), replication, peer_disk,
            out_of_sync, sync, *waiting.values(), suspended, *traffic.values()]


class DrbdCollector(ClusterCollector):
    name = "drbd"
    software = "DRBD (drbdsetup or /proc/drbd)"

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.poller = DrbdPoller(settings)
        self.background = self.poller.background

    def installed(self) -> bool:
        return self.poller.present()

    def answer_families(self) -> list[Family]:
        p = self.poller
        main = "proc-drbd" if p.source == "proc" else "drbdsetup"
        source = gauge("drbd_source_info", "Where the DRBD state comes from: status-json, events2 "
                       "(DRBD 9 drbdsetup) or proc (DRBD 8.4 /proc/drbd).", ["source"])
        if p.source:
            source.add((p.source,), 1)
        return [*status_families("drbd", "DRBD status read", main, p.answers, p.background), source,
                *resource_families(p.resources, p.split_brain)]


DRBDSETUP = Option("drbd.drbdsetup-path", "drbdsetup", "drbdsetup to run (DRBD 9); without it, "
                   "<path.procfs>/drbd is read (DRBD 8.4).")
SPLIT_BRAIN_DIR = Option("drbd.split-brain-dir", "/var/run/drbd/splitbrain", "Where DRBD's split-brain "
                         "handler leaves its drbd-split-brain-detected-<resource>-<volume> marker files.")
INTERVAL = Option("drbd.interval", 10.0, "How often the DRBD state is read, in the background.",
                  parse=duration, shown="10s")
TIMEOUT = Option("drbd.timeout", 5.0, "Time one drbdsetup run may take before it is killed.",
                 parse=duration, shown="5s")


@register("drbd", default_enabled=True, options=[DRBDSETUP, SPLIT_BRAIN_DIR, INTERVAL, TIMEOUT],
          description="DRBD roles, disk/connection/replication states, out-of-sync, split-brain (background)")
def create(settings: Settings, _shared: Shared) -> DrbdCollector:
    return DrbdCollector(settings)
