#!/usr/bin/env python3
"""A userspace delay line between two network namespaces (this kernel has no netem qdisc):
a tun device in the namespace it runs in and one in the namespace named by its first
argument; every packet read from one is written to the other, those going from the first
to the second `delay` seconds late (second argument). Prints `ready` once both exist; the
caller then gives them their point-to-point addresses. Used by tests/test_probe_live.py.

    ip netns exec NEAR python delay_line.py FAR 0.08 kvmxtdla kvmxtdlb
"""

import asyncio
import ctypes
import fcntl
import os
import struct
import sys

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
CLONE_NEWNET = 0x40000000


def open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def enter(netns: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    with open(f"/run/netns/{netns}") as handle:
        if libc.setns(handle.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {netns}")


def main() -> None:
    far, delay, near_name, far_name = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
    near_fd = open_tun(near_name)
    enter(far)
    far_fd = open_tun(far_name)
    loop = asyncio.new_event_loop()

    def forward(source: int, sink: int, late: float) -> None:
        try:
            packet = os.read(source, 65536)
        except BlockingIOError:
            return
        loop.call_later(late, os.write, sink, packet)

    loop.add_reader(near_fd, forward, near_fd, far_fd, delay)
    loop.add_reader(far_fd, forward, far_fd, near_fd, 0.0)
    print("ready", flush=True)
    loop.run_forever()


if __name__ == "__main__":
    main()
