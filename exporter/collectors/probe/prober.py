"""Continuous background probes in the style of smokeping_prober: one task per target
sends an ICMP echo (icmplib, async) or opens a TCP connection every `interval`, on a fixed
schedule (ticks are `start + k * interval`; a tick missed is skipped, never made up). A
probe not answered within `timeout` (<= interval) is lost: nothing queues behind it.

ICMP goes through unprivileged datagram sockets (`SOCK_DGRAM`/`IPPROTO_ICMP`, allowed by
`net.ipv4.ping_group_range`) where the kernel allows them, else raw sockets (root or
CAP_NET_RAW); `icmp_mode` says which. Host names are resolved at most every
`RESOLVE_EVERY` seconds; a failed resolution is counted apart and sends nothing.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import errno
import ipaddress
import logging
import socket
import time
from collections import Counter
from dataclasses import dataclass, field

from icmplib import async_ping
from icmplib.exceptions import ICMPLibError

from exporter.collectors.probe.targets import Target

log = logging.getLogger(__name__)
RESOLVE_EVERY = 60.0


@dataclass
class Stats:
    """What one target's probes gave since the exporter started."""

    bounds: tuple[float, ...]
    sent: int = 0
    received: int = 0
    dns_errors: int = 0
    rtt_sum: float = 0.0
    last_rtt: float | None = None
    address: str = ""
    counts: list[int] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, rtt: float) -> None:
        self.received += 1
        self.rtt_sum += rtt
        self.last_rtt = rtt
        self.counts[bisect.bisect_left(self.bounds, rtt)] += 1


def icmp_mode(requested: str) -> str:
    """`unprivileged` where this process may open a datagram ICMP socket, else `raw`."""
    if requested != "auto":
        return requested
    try:
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP).close()
    except OSError:
        return "raw"
    return "unprivileged"


def _literal(host: str) -> str | None:
    try:
        ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return None
    return host


class Prober:
    def __init__(self, targets: list[Target], interval: float, timeout: float, bounds: tuple[float, ...],
                 mode: str) -> None:
        self.targets = targets
        self.interval = interval
        self.timeout = min(timeout, 0.9 * interval)  # answered (or lost) before the next tick
        self.mode = mode
        self.stats = {t.name: Stats(bounds) for t in targets}
        self._resolved: dict[str, tuple[float, str]] = {}  # host -> (when, address)
        self._tasks: list[asyncio.Task[None]] = []
        self.late = 0  # ticks skipped because the loop was late (a busy host)

    def start(self) -> None:
        if not self._tasks:
            start = time.monotonic()
            for index, target in enumerate(self.targets):
                # spread the first probes over one interval: no burst of N packets at once
                offset = self.interval * index / max(len(self.targets), 1)
                self._tasks.append(asyncio.ensure_future(self._run(target, start + offset)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _run(self, target: Target, first: float) -> None:
        tick = first
        while True:
            delay = tick - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                await self.probe(target)
            except Exception:  # a probe never ends the schedule
                log.exception("probe failed", extra={"target": target.name})
                self.stats[target.name].failures["error"] += 1
            tick += self.interval
            now = time.monotonic()
            if tick < now:  # never make up missed ticks: they would go out in a burst
                missed = int((now - tick) // self.interval) + 1
                self.late += missed
                tick += missed * self.interval

    async def _address(self, target: Target, stats: Stats) -> str | None:
        literal = _literal(target.host)
        if literal is not None:
            return literal
        cached = self._resolved.get(target.host)
        if cached is not None and time.monotonic() - cached[0] < RESOLVE_EVERY:
            return cached[1]
        try:
            async with asyncio.timeout(self.timeout):
                infos = await asyncio.get_running_loop().getaddrinfo(
                    target.host, target.port or None, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError):
            stats.dns_errors += 1
            return None
        address = str(infos[0][4][0])
        self._resolved[target.host] = (time.monotonic(), address)
        return address

    async def probe(self, target: Target) -> None:
        stats = self.stats[target.name]
        address = await self._address(target, stats)
        if address is None:
            return
        stats.address = address
        stats.sent += 1
        try:
            async with asyncio.timeout(self.timeout + 0.05):  # icmplib keeps its own timeout
                rtt = await (self._connect(address, target.port) if target.port else self._echo(address))
        except TimeoutError:
            stats.failures["timeout"] += 1
            return
        except ConnectionRefusedError:
            stats.failures["refused"] += 1
            return
        except OSError as exc:
            stats.failures["unreachable" if exc.errno in (errno.EHOSTUNREACH,
                                                          errno.ENETUNREACH) else "error"] += 1
            return
        except ICMPLibError:
            stats.failures["error"] += 1
            return
        stats.observe(rtt)

    async def _connect(self, address: str, port: int) -> float:
        """Seconds to a completed TCP handshake; the connection is closed at once."""
        started = time.perf_counter()
        _reader, writer = await asyncio.open_connection(address, port)
        elapsed = time.perf_counter() - started
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return elapsed

    async def _echo(self, address: str) -> float:
        """Seconds from echo request to reply, as icmplib timed them on its socket."""
        host = await async_ping(address, count=1, timeout=self.timeout, privileged=self.mode == "raw")
        if not host.is_alive:
            raise TimeoutError
        return float(host.avg_rtt) / 1000
