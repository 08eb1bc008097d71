"""Pure parsers of corosync's tools: `corosync-quorumtool -p` (quorum and membership; the
same layout in corosync 2 and 3, with or without the Qdevice column) and
`corosync-cfgtool -s` (corosync 2 rings: "RING ID n ... FAULTY"; corosync 3 knet links:
"LINK ID n" with one `nodeid: N: connected|disconnected|localhost` row per peer)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

QUORUMTOOL_ARGS = ["-p"]
CFGTOOL_ARGS = ["-s"]
VOTE_FIELDS = {"Expected votes": "expected_votes", "Highest expected": "highest_expected",
               "Total votes": "total_votes", "Quorum": "quorum"}


@dataclass(frozen=True)
class Member:
    node_id: str
    votes: int
    name: str
    local: bool
    qdevice: str  # the Qdevice column (A,V,NMW / NR), "" without a Qdevice column


@dataclass
class Quorum:
    quorate: bool
    node_id: str = ""
    ring_id: str = ""
    provider: str = ""
    nodes: int = 0
    votes: dict[str, int] = field(default_factory=dict)
    activity_blocked: bool = False
    flags: list[str] = field(default_factory=list)
    members: list[Member] = field(default_factory=list)
    qdevice_votes: int | None = None


@dataclass(frozen=True)
class LinkPeer:
    link: str
    node_id: str
    state: str  # connected, disconnected, localhost (knet); "" on corosync 2 rings


@dataclass(frozen=True)
class Ring:
    link: str
    address: str
    faulty: bool
    status: str


@dataclass
class Links:
    transport: str = ""
    local_node_id: str = ""
    rings: list[Ring] = field(default_factory=list)
    peers: list[LinkPeer] = field(default_factory=list)


_ROW = re.compile(r"^\s*(\d+)\s+(\d+)\s+(.*?)\s*$")


def parse_quorumtool(text: str) -> Quorum:
    values: dict[str, str] = {}
    members: list[Member] = []
    qdevice_column = False
    in_members = False
    qdevice_votes: int | None = None
    for line in text.splitlines():
        if line.strip().startswith("Nodeid"):
            in_members, qdevice_column = True, "Qdevice" in line
            continue
        if in_members:
            member = _member(line, qdevice_column)
            if member is None:
                continue
            if member.node_id == "0" and member.name.startswith("Qdevice"):
                qdevice_votes = member.votes  # cast now; "(votes N)" is what it may cast
                continue
            members.append(member)
        elif ":" in line:
            key, _, value = line.partition(":")
            values[key.strip()] = value.strip()
    if "Quorate" not in values:
        raise ValueError("corosync-quorumtool output without a Quorate line")
    quorum_line = values.get("Quorum", "")
    quorum = Quorum(quorate=values["Quorate"].lower() == "yes", node_id=values.get("Node ID", ""),
                    ring_id=values.get("Ring ID", ""), provider=values.get("Quorum provider", ""),
                    activity_blocked="Activity blocked" in quorum_line, members=members,
                    flags=values.get("Flags", "").split(), qdevice_votes=qdevice_votes)
    quorum.nodes = _number(values.get("Nodes", ""), len(members))
    for label, name in VOTE_FIELDS.items():
        if label in values:
            quorum.votes[name] = _number(values[label], 0)
    return quorum


def _number(text: str, default: int) -> int:
    found = re.match(r"\s*(\d+)", text)
    return int(found.group(1)) if found else default


def _member(line: str, qdevice_column: bool) -> Member | None:
    found = _ROW.match(line)
    if found is None:
        return None
    node_id, votes, rest = found.groups()
    qdevice = ""
    if qdevice_column and node_id != "0":
        qdevice, _, rest = rest.partition(" ")
        rest = rest.strip()
    local = rest.endswith("(local)")
    name = rest.removesuffix("(local)").strip()
    return Member(node_id, int(votes), name, local, qdevice)


_RING = re.compile(r"^RING ID (\d+)")
_LINK = re.compile(r"^LINK ID (\d+)(?:\s+(\S+))?")
_PEER = re.compile(r"^\s*nodeid:?\s*(\d+):\s*(.+?)\s*$")


def parse_cfgtool(text: str) -> Links:
    links = Links()
    ring: dict[str, str] | None = None
    link = ""
    for line in text.splitlines():
        stripped = line.strip()
        if found := re.match(r"Local node ID ([^,\s]+),?(?: transport (\S+))?", stripped):
            links.local_node_id, links.transport = found.group(1), found.group(2) or ""
        elif found := _RING.match(stripped):
            _finish_ring(links, ring)
            ring = {"link": found.group(1)}
        elif found := _LINK.match(stripped):
            _finish_ring(links, ring)
            ring, link = None, found.group(1)
        elif ring is not None and "=" in stripped:
            key, _, value = stripped.partition("=")
            ring[key.strip()] = value.strip()
        elif link and (found := _PEER.match(line)):
            links.peers.append(LinkPeer(link, found.group(1), found.group(2)))
    _finish_ring(links, ring)
    if not links.rings and not links.peers and not links.local_node_id:
        raise ValueError("corosync-cfgtool output without rings or links")
    return links


def _finish_ring(links: Links, ring: dict[str, str] | None) -> None:
    if ring is None:
        return
    status = ring.get("status", "")
    links.rings.append(Ring(ring["link"], ring.get("id", ""), "FAULTY" in status.upper(), status))
