"""The guest_agent collector (fault vm_health), off by default: what each running guest's
QEMU guest agent says of itself — OS, hostname, filesystems used and total, addresses per
interface — through libvirt's `virDomainGetGuestInfo`.

libvirt refuses agent calls on a read-only connection ("read only access prevents
virDomainGetGuestInfo"), so this collector opens its own read-write connection
(`--guest-agent.uri`); the README gives the polkit rule that grants it only what the call
needs. Guests are asked in the background every `--guest-agent.interval`, a few at once,
each call given `--guest-agent.timeout`: a guest whose agent does not answer is marked down
and is not asked again until its call returns. A scrape only reads the last answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import libvirt

from exporter.collector import CollectorError, register
from exporter.metrics import Family, gauge
from exporter.options import Option, duration
from exporter.settings import Settings
from exporter.shared import Shared
from exporter.threads import DaemonThreadPool

log = logging.getLogger(__name__)
WORKERS = 4
TYPES = (libvirt.VIR_DOMAIN_GUEST_INFO_OS | libvirt.VIR_DOMAIN_GUEST_INFO_HOSTNAME
         | libvirt.VIR_DOMAIN_GUEST_INFO_FILESYSTEM | getattr(libvirt, "VIR_DOMAIN_GUEST_INFO_INTERFACES", 0))


@dataclass(frozen=True, slots=True)
class Filesystem:
    mountpoint: str
    fstype: str
    total_bytes: int | None
    used_bytes: int | None


@dataclass(frozen=True, slots=True)
class Address:
    interface: str
    hwaddr: str
    address: str
    prefix: int
    family: str


@dataclass(frozen=True, slots=True)
class GuestInfo:
    os: dict[str, str] = field(default_factory=dict)  # id, name, version-id, kernel-release, machine
    hostname: str = ""
    filesystems: tuple[Filesystem, ...] = ()
    addresses: tuple[Address, ...] = ()


def _count(params: dict[str, Any], key: str) -> int:
    value = params.get(key, 0)
    return value if isinstance(value, int) and 0 <= value < 4096 else 0


def _text(params: dict[str, Any], key: str) -> str:
    value = params.get(key, "")
    return value if isinstance(value, str) else ""


def _size(params: dict[str, Any], key: str) -> int | None:
    value = params.get(key)
    return value if isinstance(value, int) and value >= 0 else None


def parse_guest_info(params: dict[str, Any]) -> GuestInfo:
    """`virDomainGetGuestInfo`'s typed parameters (`os.id`, `hostname`, `fs.<n>.mountpoint`,
    `if.<n>.addr.<m>.addr`, ...) as GuestInfo; keys it does not know are left out."""
    os_info = {key: _text(params, f"os.{key}")
               for key in ("id", "name", "version-id", "kernel-release", "machine")}
    filesystems = tuple(
        Filesystem(_text(params, f"fs.{n}.mountpoint"), _text(params, f"fs.{n}.fstype"),
                   _size(params, f"fs.{n}.total-bytes"), _size(params, f"fs.{n}.used-bytes"))
        for n in range(_count(params, "fs.count")))
    addresses = []
    for n in range(_count(params, "if.count")):
        name, hwaddr = _text(params, f"if.{n}.name"), _text(params, f"if.{n}.hwaddr")
        for m in range(_count(params, f"if.{n}.addr.count")):
            prefix = params.get(f"if.{n}.addr.{m}.prefix", 0)
            addresses.append(Address(name, hwaddr, _text(params, f"if.{n}.addr.{m}.addr"),
                                     prefix if isinstance(prefix, int) else 0,
                                     _text(params, f"if.{n}.addr.{m}.type")))
    return GuestInfo(os_info, _text(params, "hostname"), filesystems, tuple(addresses))


@dataclass(slots=True)
class Report:
    """The last answer of one guest's agent."""

    up: bool = False
    info: GuestInfo | None = None
    answered_at: float | None = None  # Unix time of the last answer
    error: str = ""


def agent_error(exc: libvirt.libvirtError) -> str:
    code = exc.get_error_code()
    return {libvirt.VIR_ERR_AGENT_UNRESPONSIVE: "not_connected",
            libvirt.VIR_ERR_OPERATION_DENIED: "denied",
            libvirt.VIR_ERR_NO_SUPPORT: "not_supported",
            getattr(libvirt, "VIR_ERR_AGENT_COMMAND_TIMEOUT", -1): "timeout"}.get(code, f"error_{code}")


class AgentPoller:
    def __init__(self, uri: str, interval: float, timeout: float) -> None:
        self.uri, self.interval, self.timeout = uri, interval, timeout
        self.reports: dict[str, Report] = {}  # domain name -> last answer
        # room for a stuck call per guest of a batch beside the next batch
        self._pool = DaemonThreadPool(WORKERS * 2 + 1, "guest-agent")
        self._conn: Any = None
        self._pending: dict[str, Future[Any]] = {}  # domain name -> its call still running
        self._task: asyncio.Task[None] | None = None
        self.failure = ""  # why the last round could not list the guests ("": it could)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="guest-agent")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.poll()
                self.failure = ""
            except libvirt.libvirtError as exc:
                if str(exc) != self.failure:
                    log.warning("guest agent poll failed", extra={"uri": self.uri, "err": str(exc)})
                self.failure = str(exc)
                self._conn = None
            await asyncio.sleep(self.interval)

    def _domains(self) -> list[Any]:
        if self._conn is None or not self._conn.isAlive():
            self._conn = libvirt.open(self.uri)
        return list(self._conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE))

    async def poll(self) -> None:
        """One round: every running guest asked, WORKERS at a time, each batch given the
        timeout (a guest still inside its last call is not asked again)."""
        loop = asyncio.get_running_loop()
        domains = await loop.run_in_executor(self._pool, self._domains)
        names = {dom.name(): dom for dom in domains}
        for gone in self.reports.keys() - names.keys():
            del self.reports[gone]
        for gone in self._pending.keys() - names.keys():
            del self._pending[gone]
        ready = []
        for name, dom in names.items():
            if name in self._pending and not self._pending[name].done():
                self._down(name, "timeout")
            else:
                ready.append((name, dom))
        for start in range(0, len(ready), WORKERS):
            await self._ask(ready[start:start + WORKERS])

    async def _ask(self, batch: list[tuple[str, Any]]) -> None:
        calls = {}
        for name, dom in batch:
            future = self._pool.submit(dom.guestInfo, TYPES, 0)
            self._pending[name] = future
            calls[name] = asyncio.wrap_future(future)
        await asyncio.wait(calls.values(), timeout=self.timeout)
        now = time.time()
        for name, call in calls.items():
            if not call.done():
                call.add_done_callback(_retrieve)
                self._down(name, "timeout")
                continue
            error = call.exception()
            if isinstance(error, libvirt.libvirtError):
                self._down(name, agent_error(error))
            elif error is not None:
                raise error
            else:
                self.reports[name] = Report(True, parse_guest_info(call.result()), now)

    def _down(self, name: str, error: str) -> None:
        """No answer this round: the last answer's time is kept, its data is not."""
        self.reports[name] = Report(False, None, self.reports.get(name, Report()).answered_at, error)


def _retrieve(call: asyncio.Future[Any]) -> None:
    if not call.cancelled():
        call.exception()


def agent_families(reports: dict[str, Report]) -> list[Family]:
    d = ["domain"]
    up = gauge("domain_guest_agent_up", "Whether the guest's agent answered the last poll (1) or "
               "not (0); the reason as a label (not_connected, timeout, denied, ...).", [*d, "error"])
    answered = gauge("domain_guest_agent_last_answer_timestamp_seconds", "When the guest's agent "
                     "last answered.", d)
    os_info = gauge("domain_guest_os_info", "The guest's OS as its agent reports it.",
                    [*d, "id", "name", "version_id", "kernel_release", "machine"])
    hostname = gauge("domain_guest_hostname_info", "The guest's hostname as its agent reports it.",
                     [*d, "hostname"])
    size = gauge("domain_guest_filesystem_size_bytes", "Size of a filesystem mounted in the guest.",
                 [*d, "mountpoint", "fstype"])
    used = gauge("domain_guest_filesystem_used_bytes", "Space used on a filesystem mounted in the guest.",
                 [*d, "mountpoint", "fstype"])
    address = gauge("domain_guest_interface_address_info", "An address of a guest network interface.",
                    [*d, "interface", "hwaddr", "address", "prefix", "family"])
    for name, report in sorted(reports.items()):
        up.add((name, report.error), 1 if report.up else 0)
        if report.answered_at is not None:
            answered.add((name,), report.answered_at)
        info = report.info
        if info is None:
            continue
        o = info.os
        os_info.add((name, o["id"], o["name"], o["version-id"], o["kernel-release"], o["machine"]), 1)
        if info.hostname:
            hostname.add((name, info.hostname), 1)
        for fs in info.filesystems:
            if fs.total_bytes is not None:
                size.add((name, fs.mountpoint, fs.fstype), fs.total_bytes)
            if fs.used_bytes is not None:
                used.add((name, fs.mountpoint, fs.fstype), fs.used_bytes)
        for a in info.addresses:
            address.add((name, a.interface, a.hwaddr, a.address, str(a.prefix), a.family), 1)
    return [up, answered, os_info, hostname, size, used, address]


class GuestAgentCollector:
    name = "guest_agent"

    def __init__(self, poller: AgentPoller) -> None:
        self.poller = poller

    async def collect(self) -> list[Family]:
        self.poller.start()  # the first scrape starts the polls; answers come with the next ones
        families = agent_families(self.poller.reports)
        if self.poller.failure:
            raise CollectorError(f"libvirt ({self.poller.uri}): {self.poller.failure}", families)
        return families

    async def close(self) -> None:
        await self.poller.stop()


URI = Option("guest-agent.uri", "qemu:///system", "libvirt URI of the read-write connection the "
             "agent calls need (libvirt refuses them read-only).")
INTERVAL = Option("guest-agent.interval", 60.0, "How often every running guest's agent is asked, "
                  "in the background.", parse=duration, shown="60s")
TIMEOUT = Option("guest-agent.timeout", 5.0, "Time one guest's agent may take to answer before it "
                 "counts as down for that poll.", parse=duration, shown="5s")


@register("guest_agent", default_enabled=False, options=[URI, INTERVAL, TIMEOUT],
          description="guest agent data (OS, hostname, filesystems, addresses) over a read-write "
                      "libvirt connection; off by default")
def create(settings: Settings, _shared: Shared) -> GuestAgentCollector:
    return GuestAgentCollector(AgentPoller(URI.of(settings), INTERVAL.of(settings), TIMEOUT.of(settings)))
