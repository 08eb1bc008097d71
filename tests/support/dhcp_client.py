"""A minimal DHCP client (DISCOVER, OFFER, REQUEST, ACK) for one interface, so a test can
take a real lease from the dnsmasq libvirt runs for a virtual network. Run it inside the
network namespace that holds the interface:

    ip netns exec NS python3 tests/support/dhcp_client.py IFACE MAC

Prints the leased address. Standard library only (no DHCP client is installed here).
"""

from __future__ import annotations

import os
import socket
import struct
import sys

SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
MAGIC = b"\x63\x82\x53\x63"


def packet(mac: bytes, xid: int, kind: int, extra: bytes = b"") -> bytes:
    header = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000, b"\0" * 4,
                         b"\0" * 4, b"\0" * 4, b"\0" * 4, mac.ljust(16, b"\0"), b"", b"")
    return header + MAGIC + bytes([53, 1, kind]) + extra + b"\xff"


def options(reply: bytes) -> dict[int, bytes]:
    found, rest = {}, reply[240:]
    while rest and rest[0] != 255:
        if rest[0] == 0:
            rest = rest[1:]
            continue
        code, size = rest[0], rest[1]
        found[code] = rest[2:2 + size]
        rest = rest[2 + size:]
    return found


def exchange(sock: socket.socket, request: bytes, xid: int, wanted: int) -> tuple[bytes, dict[int, bytes]]:
    """Send `request` once a second (a new bridge port may still drop frames) until the
    reply of type `wanted` comes; TimeoutError after 20 tries."""
    for _ in range(20):
        sock.sendto(request, ("255.255.255.255", 67))
        try:
            while True:
                reply, _ = sock.recvfrom(4096)
                if len(reply) > 240 and struct.unpack("!I", reply[4:8])[0] == xid:
                    found = options(reply)
                    if found.get(53) == bytes([wanted]):
                        return reply[16:20], found
        except TimeoutError:
            continue
    raise TimeoutError(f"no DHCP reply of type {wanted}")


def lease(interface: str, mac: str) -> str:
    address = bytes.fromhex(mac.replace(":", ""))
    xid = int.from_bytes(os.urandom(4), "big")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, interface.encode())
        sock.bind(("0.0.0.0", 68))
        sock.settimeout(1)
        offered, found = exchange(sock, packet(address, xid, 1), xid, 2)  # DISCOVER -> OFFER
        request = bytes([50, 4]) + offered + bytes([54, 4]) + found[54]
        acked, _ = exchange(sock, packet(address, xid, 3, request), xid, 5)  # REQUEST -> ACK
    return socket.inet_ntoa(acked)


if __name__ == "__main__":
    print(lease(sys.argv[1], sys.argv[2]))
