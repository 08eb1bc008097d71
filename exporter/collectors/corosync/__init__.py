"""The corosync collector (fault cluster_quorum): quorum (quorate, votes, flags, members)
from `corosync-quorumtool -p` and the links/rings from `corosync-cfgtool -s`, run in the
background on their own interval with a timeout; the last answers are served with their
age. A host without corosync gets `kvm_corosync_present 0` and nothing runs."""

from __future__ import annotations

import asyncio

from exporter.collector import register
from exporter.collectors.cluster import Answers, ClusterCollector, flag, installed, status_families
from exporter.collectors.corosync.parse import (
    CFGTOOL_ARGS,
    QUORUMTOOL_ARGS,
    Links,
    Quorum,
    parse_cfgtool,
    parse_quorumtool,
)
from exporter.commands import CommandError
from exporter.metrics import Family, gauge
from exporter.options import Option, duration
from exporter.poller import Poller, first_wait
from exporter.settings import Settings
from exporter.shared import Shared

KNOWN_FLAGS = ("Quorate", "2Node", "WaitForAll", "LastManStanding", "AutoTieBreaker", "AllowDownscale",
               "Qdevice", "QdeviceAlive", "QdeviceCastVote", "QdeviceMasterWins")
QUORATE_EXIT, NOT_QUORATE_EXIT = 0, 2  # corosync-quorumtool's exit status: both are answers


class CorosyncPoller:
    def __init__(self, settings: Settings) -> None:
        self.quorumtool = QUORUMTOOL.of(settings)
        self.cfgtool = CFGTOOL.of(settings)
        self.timeout = TIMEOUT.of(settings)
        self.quorum: Quorum | None = None
        self.links: Links | None = None
        self.answers = Answers()
        self.background = Poller("corosync", self.poll, INTERVAL.of(settings),
                                 first_wait(settings.collector_timeout))

    async def _quorum(self) -> None:
        try:
            code, output = await self.background.status([self.quorumtool, *QUORUMTOOL_ARGS], self.timeout)
            if code not in (QUORATE_EXIT, NOT_QUORATE_EXIT):
                self.background.failed(f"exit_{code}")
                raise CommandError(f"exit_{code}")
            self.quorum = parse_quorumtool(output)
        except (CommandError, ValueError) as exc:
            self.answers.failed("corosync-quorumtool", exc, self.background)
        else:
            self.answers.succeeded("corosync-quorumtool")

    async def _links(self) -> None:
        # Its exit status is 1 when a link is down, so the output decides.
        try:
            _code, output = await self.background.status([self.cfgtool, *CFGTOOL_ARGS], self.timeout)
            self.links = parse_cfgtool(output)
        except (CommandError, ValueError) as exc:
            self.answers.failed("corosync-cfgtool", exc, self.background)
        else:
            self.answers.succeeded("corosync-cfgtool", main=False)

    async def poll(self) -> None:
        await asyncio.gather(self._quorum(), self._links())


def quorum_families(quorum: Quorum) -> list[Family]:
    quorate = gauge("corosync_quorate", "Whether this node's partition has quorum (1) or not (0).")
    quorate.add((), flag(quorum.quorate))
    blocked = gauge("corosync_activity_blocked", "Whether votequorum blocks activity for lack of "
                    "votes (1) or not (0).")
    blocked.add((), flag(quorum.activity_blocked))
    votes = gauge("corosync_quorum_votes", "Votequorum's figures: expected_votes, highest_expected, "
                  "total_votes, quorum (the votes needed).", ["type"])
    for kind, value in sorted(quorum.votes.items()):
        votes.add((kind,), value)
    flags = gauge("corosync_quorum_flag", "Whether a votequorum flag is set (Quorate, 2Node, WaitForAll, "
                  "LastManStanding, AutoTieBreaker, Qdevice, ...).", ["flag"])
    for name in sorted(set(KNOWN_FLAGS) | set(quorum.flags)):
        flags.add((name,), flag(name in quorum.flags))
    info = gauge("corosync_quorum_info", "The quorum provider, this node's id and the ring id of the "
                 "current membership (it changes with every membership change).",
                 ["provider", "node_id", "ring_id"])
    info.add((quorum.provider, quorum.node_id, quorum.ring_id), 1)
    nodes = gauge("corosync_members", "Nodes in this node's membership.")
    nodes.add((), quorum.nodes)
    member = gauge("corosync_member_votes", "Votes of each member of the membership.",
                   ["node_id", "node", "local"])
    for m in quorum.members:
        member.add((m.node_id, m.name, "true" if m.local else "false"), m.votes)
    families = [quorate, blocked, votes, flags, info, nodes, member]
    if quorum.qdevice_votes is not None:
        families.append(gauge("corosync_qdevice_votes", "Votes the quorum device casts now."))
        families[-1].add((), quorum.qdevice_votes)
    return families


def link_families(links: Links) -> list[Family]:
    ring = gauge("corosync_ring_faulty", "Whether a corosync 2 ring is marked FAULTY (1) or not (0).",
                 ["link", "address"])
    for r in links.rings:
        ring.add((r.link, r.address), flag(r.faulty))
    peer = gauge("corosync_link_connected", "Whether this node's knet link to a peer node is "
                 "connected (1) or not (0), per link (corosync 3).", ["link", "node_id"])
    for p in links.peers:
        if p.state != "localhost":
            peer.add((p.link, p.node_id), flag(p.state == "connected"))
    return [ring, peer]


class CorosyncCollector(ClusterCollector):
    name = "corosync"
    software = "corosync (corosync-quorumtool)"

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.poller = CorosyncPoller(settings)
        self.background = self.poller.background

    def installed(self) -> bool:
        return installed(self.poller.quorumtool)

    def answer_families(self) -> list[Family]:
        p = self.poller
        families = status_families("corosync", "corosync-quorumtool", "corosync-quorumtool",
                                   p.answers, p.background)
        if p.quorum is not None:
            families += quorum_families(p.quorum)
        if p.links is not None:
            families += link_families(p.links)
        return families


QUORUMTOOL = Option("corosync.quorumtool-path", "corosync-quorumtool", "corosync-quorumtool to run.")
CFGTOOL = Option("corosync.cfgtool-path", "corosync-cfgtool", "corosync-cfgtool to run.")
INTERVAL = Option("corosync.interval", 10.0, "How often corosync's tools run, in the background.",
                  parse=duration, shown="10s")
TIMEOUT = Option("corosync.timeout", 5.0, "Time one corosync tool run may take before it is killed.",
                 parse=duration, shown="5s")


@register("corosync", default_enabled=True, options=[QUORUMTOOL, CFGTOOL, INTERVAL, TIMEOUT],
          description="corosync quorum, votes, members and links (background)")
def create(settings: Settings, _shared: Shared) -> CorosyncCollector:
    return CorosyncCollector(settings)
