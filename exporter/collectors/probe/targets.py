"""Probe targets, pure: the `--probe.target` forms (`ADDRESS`, `NAME=ADDRESS`,
`tcp://HOST:PORT`, `NAME=tcp://HOST:PORT`), a peers file of the same (one per line, `#`
comments), and the targets the host already knows: its default gateways (`/proc/net/route`,
`/proc/net/ipv6_route`) and the portals of its iSCSI node records (TCP, their port)."""

from __future__ import annotations

import ipaddress
import re
import socket
import struct
import sys
from collections.abc import Iterable
from dataclasses import dataclass

_NAME = re.compile(r"^[][A-Za-z0-9_.:@/-]{1,128}$")
_HOST = re.compile(r"^[A-Za-z0-9_.-]{1,253}$")
RTF_GATEWAY = 0x2


@dataclass(frozen=True)
class Target:
    name: str  # the `target` label
    host: str  # an address or a host name
    port: int = 0  # a TCP connect probe when set, ICMP echo otherwise
    source: str = "flag"  # flag, peers, gateway, iscsi

    @property
    def kind(self) -> str:
        return "tcp" if self.port else "icmp"


def _host(text: str, what: str) -> str:
    host = text.strip("[]")
    address, percent, zone = host.partition("%")  # fe80::1%eth0: link-local with its zone
    try:
        return str(ipaddress.ip_address(address)) + percent + zone
    except ValueError:
        pass
    if not _HOST.match(host) or host.startswith("-"):
        raise ValueError(f"{what}: {text!r} is not an address or a host name")
    return host.lower()


def parse_target(text: str, source: str = "flag") -> Target:
    """One target; a ValueError says what is wrong with it."""
    what = f"probe target {text!r}"
    name, sep, rest = text.strip().partition("=")
    if not sep:
        name, rest = "", name
    if sep and not _NAME.match(name):
        raise ValueError(f"{what}: the name {name!r} may hold letters, digits and _.:@/-[] only")
    rest = rest.strip()
    if not rest:
        raise ValueError(f"{what}: no address")
    if "://" in rest:
        scheme, _, where = rest.partition("://")
        if scheme != "tcp":
            raise ValueError(f"{what}: only tcp:// is a probe scheme (ICMP targets are plain addresses)")
        found = re.match(r"^(\[[^\]]+\]|[^:\[\]]+):(\d{1,5})$", where)
        if found is None:
            raise ValueError(f"{what}: a TCP target is tcp://HOST:PORT")
        port = int(found.group(2))
        if not 1 <= port <= 65535:
            raise ValueError(f"{what}: port {port} is out of range")
        host = _host(found.group(1), what)
        return Target(name or f"{host}:{port}", host, port, source)
    host = _host(rest, what)
    return Target(name or host, host, 0, source)


def parse_peers(text: str) -> list[Target]:
    """A peers file: one target per line, blank lines and `#` comments ignored; the error of a
    bad line names its number."""
    targets = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            targets.append(parse_target(line, "peers"))
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None
    return targets


def default_gateways(route: str, ipv6_route: str = "") -> list[Target]:
    """Next hops of the default routes in `/proc/net/route` and `/proc/net/ipv6_route`."""
    found: dict[str, Target] = {}
    for line in route.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            destination, gateway, flags, mask = (int(fields[i], 16) for i in (1, 2, 3, 7))
        except ValueError:
            continue
        if destination == 0 and mask == 0 and flags & RTF_GATEWAY and gateway:
            address = socket.inet_ntoa(struct.pack("<I", gateway))
            found.setdefault(address, Target(f"gateway-{address}", address, 0, "gateway"))
    for line in ipv6_route.splitlines():
        fields = line.split()
        if len(fields) < 10 or fields[0] != "0" * 32 or fields[1] != "00":
            continue
        try:
            hop = ipaddress.IPv6Address(bytes.fromhex(fields[4]))
        except ValueError:
            continue
        if hop.is_unspecified:
            continue
        address = str(hop) + (f"%{fields[9]}" if hop.is_link_local else "")
        found.setdefault(address, Target(f"gateway-{address}", address, 0, "gateway"))
    return list(found.values())


def iscsi_portals(portals: Iterable[str]) -> list[Target]:
    """`ADDRESS:PORT[,TPGT]` portals of node records -> TCP targets (one per portal)."""
    found: dict[tuple[str, int], Target] = {}
    for portal in portals:
        where = portal.split(",", 1)[0]
        address, sep, port = where.rpartition(":")
        if not sep or not port.isdigit():
            continue
        try:
            target = parse_target(f"iscsi-{where}=tcp://{address}:{port}", "iscsi")
        except ValueError:
            continue
        found.setdefault((target.host, target.port), target)
    return list(found.values())


def unique(targets: Iterable[Target]) -> list[Target]:
    """First of each name: a flag wins over the peers file over what the host knows."""
    seen: dict[str, Target] = {}
    for target in targets:
        seen.setdefault(target.name, target)
    return list(seen.values())


def main(argv: list[str]) -> int:
    """`python -m exporter.collectors.probe.targets FILE`: check a peers file as the exporter
    would read it (Ansible's `validate`); the problem on stderr, exit 1."""
    if len(argv) != 1:
        print("usage: python -m exporter.collectors.probe.targets PEERS_FILE", file=sys.stderr)
        return 2
    try:
        with open(argv[0], encoding="utf-8") as file:
            parse_peers(file.read())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        print(f"peers file {argv[0]}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
