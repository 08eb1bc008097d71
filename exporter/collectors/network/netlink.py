"""Every interface's state in one rtnetlink dump (`RTM_GETLINK`), instead of ~10 sysfs
reads per interface: what `ip -d link` reads.

Netlink answers for the exporter's own network namespace, so the collector uses it only
when `--path.sysfs` is the exporter's own `/sys` (which shows that same namespace); a
sysfs mounted from elsewhere (`/host/sys`, a namespace's) is read file by file. The parser
is pure; `dump_links` only talks to the kernel.
"""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass

NETLINK_ROUTE = 0
RTM_NEWLINK = 16
RTM_GETLINK = 18
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300

IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_MASTER = 10
IFLA_OPERSTATE = 16
IFLA_CARRIER = 33
IFLA_CARRIER_CHANGES = 35
IFLA_CARRIER_UP_COUNT = 47
IFLA_CARRIER_DOWN_COUNT = 48
IFLA_EXT_MASK = 29
RTEXT_FILTER_SKIP_STATS = 1 << 3  # the counters come from /proc/net/dev: not asked for here
WANTED = frozenset({IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_OPERSTATE, IFLA_CARRIER,
                    IFLA_CARRIER_CHANGES, IFLA_CARRIER_UP_COUNT, IFLA_CARRIER_DOWN_COUNT})

# RFC 2863 operational states, as sysfs names them (net/core/net-sysfs.c)
OPERSTATES = ("unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up")

_NLMSGHDR = struct.Struct("=IHHII")  # length, type, flags, sequence, port
_IFINFOMSG = struct.Struct("=BxHiII")  # family, device type, index, flags, change mask
_RTATTR = struct.Struct("=HH")  # length, type
_U32 = struct.Struct("=I")


@dataclass(frozen=True)
class NetlinkLink:
    index: int
    name: str
    flags: int
    operstate: str
    carrier: int | None
    carrier_changes: int | None
    carrier_up: int | None
    carrier_down: int | None
    mtu: int | None
    address: str
    master_index: int


def _attributes(data: bytes, offset: int, end: int) -> dict[int, bytes]:
    """The WANTED attributes between offset and end (their types without the NLA_F_* bits)."""
    found: dict[int, bytes] = {}
    unpack = _RTATTR.unpack_from
    while offset + 4 <= end:
        length, kind = unpack(data, offset)
        if length < 4 or offset + length > end:
            raise ValueError(f"netlink attribute of length {length} at {offset} past {end}")
        kind &= 0x3FFF
        if kind in WANTED:
            found[kind] = data[offset + 4:offset + length]
        offset += (length + 3) & ~3
    return found


def _u32(value: bytes | None) -> int | None:
    return _U32.unpack(value[:4])[0] if value is not None and len(value) >= 4 else None


def _u8(value: bytes | None) -> int | None:
    return value[0] if value else None


def _link(data: bytes, offset: int, end: int) -> NetlinkLink:
    if offset + _IFINFOMSG.size > end:
        raise ValueError("netlink RTM_NEWLINK message without its ifinfomsg")
    _, _, index, flags, _ = _IFINFOMSG.unpack_from(data, offset)
    attrs = _attributes(data, offset + _IFINFOMSG.size, end)
    name = attrs.get(IFLA_IFNAME, b"").split(b"\0", 1)[0]
    operstate = _u8(attrs.get(IFLA_OPERSTATE)) or 0
    return NetlinkLink(
        index=index,
        name=os.fsdecode(name),
        flags=flags,
        operstate=OPERSTATES[operstate] if operstate < len(OPERSTATES) else "unknown",
        carrier=_u8(attrs.get(IFLA_CARRIER)),
        carrier_changes=_u32(attrs.get(IFLA_CARRIER_CHANGES)),
        carrier_up=_u32(attrs.get(IFLA_CARRIER_UP_COUNT)),
        carrier_down=_u32(attrs.get(IFLA_CARRIER_DOWN_COUNT)),
        mtu=_u32(attrs.get(IFLA_MTU)),
        address=":".join(f"{b:02x}" for b in attrs.get(IFLA_ADDRESS, b"")),
        master_index=_u32(attrs.get(IFLA_MASTER)) or 0,
    )


@dataclass(frozen=True)
class DumpPart:
    links: list[NetlinkLink]
    done: bool  # the dump's end (NLMSG_DONE) was in this part
    error: int = 0  # the errno of an NLMSG_ERROR answer


def parse_link_dump(data: bytes) -> DumpPart:
    """The links in a run of netlink messages (one `recv` of a dump, or several joined)."""
    links: list[NetlinkLink] = []
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, kind, _, _, _ = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size or offset + length > len(data):
            raise ValueError(f"netlink message of length {length} at {offset} of {len(data)}")
        body = offset + _NLMSGHDR.size
        if kind == NLMSG_DONE:
            return DumpPart(links, True)
        if kind == NLMSG_ERROR:
            code = struct.unpack_from("=i", data, body)[0] if body + 4 <= offset + length else 0
            return DumpPart(links, True, -code)
        if kind == RTM_NEWLINK:
            links.append(_link(data, body, offset + length))
        offset += (length + 3) & ~3
    return DumpPart(links, False)


def _route_socket() -> socket.socket:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
    sock.settimeout(5)
    return sock


def set_link_flags(index: int, flags: int, change: int) -> None:
    """Set the `change` bits of a link's flags to those of `flags` (`ip link set up` is
    IFF_UP, IFF_UP); OSError with the kernel's errno if refused."""
    body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, flags, change)
    request = _NLMSGHDR.pack(_NLMSGHDR.size + len(body), RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, 1, 0) + body
    with _route_socket() as sock:
        sock.sendall(request)
        answer = sock.recv(1 << 16)
    part = parse_link_dump(answer)
    if part.error:
        raise OSError(part.error, f"netlink RTM_NEWLINK: {os.strerror(part.error)}")


def dump_links() -> list[NetlinkLink]:
    """Every link of the caller's network namespace."""
    body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + _RTATTR.pack(8, IFLA_EXT_MASK) + _U32.pack(
        RTEXT_FILTER_SKIP_STATS)
    request = _NLMSGHDR.pack(_NLMSGHDR.size + len(body), RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + body
    links: list[NetlinkLink] = []
    with _route_socket() as sock:
        sock.sendall(request)
        while True:
            part = parse_link_dump(sock.recv(1 << 18))  # more than a dump part holds
            if part.error:
                raise OSError(part.error, f"netlink RTM_GETLINK: {os.strerror(part.error)}")
            links += part.links
            if part.done:
                return links
