"""Broadcast counters (fault traffic_storm) from a driver's ethtool statistics (what
`ethtool -S` prints), read with the SIOCETHTOOL ioctl in the exporter's own network
namespace.

Drivers name their statistics freely (`rx_broadcast`, `tx_bcast_packets`,
`rx_broadcast_phy`, ...); every one whose name mentions broadcast is served. The list of
names is read once per interface index and cached: it never changes for a device (nor does
a driver's lack of them).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import socket
import struct

SIOCETHTOOL = 0x8946
ETHTOOL_GSSET_INFO = 0x37
ETHTOOL_GSTRINGS = 0x1B
ETHTOOL_GSTATS = 0x1D
ETH_SS_STATS = 1
ETH_GSTRING_LEN = 32
IFNAMSIZ = 16
IFREQ_SIZE = 40


def is_broadcast_stat(name: str) -> bool:
    lowered = name.lower()
    return "broadcast" in lowered or "bcast" in lowered


def _ioctl(sock: socket.socket, device: str, buffer: ctypes.Array[ctypes.c_char]) -> None:
    request = struct.pack(f"{IFNAMSIZ}sP", os.fsencode(device)[:IFNAMSIZ - 1], ctypes.addressof(buffer))
    fcntl.ioctl(sock.fileno(), SIOCETHTOOL, bytearray(request.ljust(IFREQ_SIZE, b"\0")))


def _stat_names(sock: socket.socket, device: str) -> list[str]:
    info = ctypes.create_string_buffer(struct.pack("IIQI", ETHTOOL_GSSET_INFO, 0, 1 << ETH_SS_STATS, 0))
    _ioctl(sock, device, info)
    _, _, mask, count = struct.unpack("IIQI", info.raw[:20])
    if not mask & (1 << ETH_SS_STATS) or count == 0:
        return []
    strings = ctypes.create_string_buffer(12 + count * ETH_GSTRING_LEN)
    struct.pack_into("III", strings, 0, ETHTOOL_GSTRINGS, ETH_SS_STATS, count)
    _ioctl(sock, device, strings)
    raw = strings.raw[12:]
    return [raw[i:i + ETH_GSTRING_LEN].split(b"\0", 1)[0].decode("ascii", "replace")
            for i in range(0, count * ETH_GSTRING_LEN, ETH_GSTRING_LEN)]


def _stat_values(sock: socket.socket, device: str, count: int) -> list[int]:
    stats = ctypes.create_string_buffer(8 + count * 8)
    struct.pack_into("II", stats, 0, ETHTOOL_GSTATS, count)
    _ioctl(sock, device, stats)
    return list(struct.unpack_from(f"{count}Q", stats.raw, 8))


class BroadcastReader:
    def __init__(self) -> None:
        self._names: dict[tuple[str, int], list[str]] = {}

    def read(self, devices: dict[str, int]) -> dict[tuple[str, str], int]:
        """(device, statistic) -> value for devices (name -> ifindex) whose driver has any."""
        found: dict[tuple[str, str], int] = {}
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for device, ifindex in devices.items():
                try:
                    names = self._names.get((device, ifindex))
                    if names is None:
                        names = self._names[(device, ifindex)] = _stat_names(sock, device)
                    if not any(is_broadcast_stat(n) for n in names):
                        continue
                    values = _stat_values(sock, device, len(names))
                except OSError as exc:
                    if exc.errno == errno.EOPNOTSUPP:  # a driver without them (tun/tap, veth, bridge)
                        self._names[(device, ifindex)] = []
                    continue  # or not in our namespace (ENODEV)
                for name, value in zip(names, values, strict=True):
                    if is_broadcast_stat(name):
                        found[(device, name)] = value
        live = set(devices.items())
        for key in [k for k in self._names if k not in live]:
            del self._names[key]
        return found
