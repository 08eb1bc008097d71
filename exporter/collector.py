"""The collector framework: registration, timeouts, failure isolation and single flight.

A collector's whole interface is `async collect() -> list[Family]`. Timing, error capture
and the `kvm_scrape_collector_*` series live here, once, not in each collector.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, runtime_checkable

from exporter.metrics import Family, counter, gauge
from exporter.options import Option
from exporter.sysfs import SysfsReader

if TYPE_CHECKING:
    from exporter.settings import Settings
    from exporter.shared import Shared

log = logging.getLogger(__name__)

T = TypeVar("T")


class CollectorError(Exception):
    """A collector failed but still has something to say (e.g. `kvm_libvirt_up 0`)."""

    def __init__(self, message: str, families: list[Family]) -> None:
        super().__init__(message)
        self.families = families


class Collector(Protocol):
    name: str

    async def collect(self) -> list[Family]: ...

    async def close(self) -> None: ...


Factory = Callable[["Settings", "Shared"], Collector]  # what register() decorates


@runtime_checkable
class TimedOut(Protocol):
    """A collector whose source can hang and that still has something to say then, e.g.
    `kvm_libvirt_up 0` while libvirtd does not answer."""

    def timed_out_families(self) -> list[Family]: ...


@dataclass(frozen=True)
class CollectorSpec:
    name: str
    default_enabled: bool
    description: str
    factory: Factory
    options: tuple[Option[Any], ...] = ()


COLLECTORS: dict[str, CollectorSpec] = {}


def register(
    name: str, *, default_enabled: bool, description: str, options: Sequence[Option[Any]] = ()
) -> Callable[[Factory], Factory]:
    """Register a collector factory with its options; the CLI derives `--[no-]collector.<name>`
    and every option's flag from this table."""

    def wrap(factory: Factory) -> Factory:
        if name in COLLECTORS:
            raise ValueError(f"collector {name!r} registered twice")
        COLLECTORS[name] = CollectorSpec(name, default_enabled, description, factory, tuple(options))
        return factory

    return wrap


@dataclass
class Outcome:
    name: str
    success: bool
    duration: float
    families: list[Family]
    error: str = ""
    finished_at: float = field(default_factory=time.time)


async def run_collector(collector: Collector, timeout: float) -> Outcome:
    """Run one collector under its timeout; any failure costs only this collector."""
    start = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            families = await collector.collect()
    except TimeoutError:
        error = f"timed out after {timeout:g}s"
        families, success = _timed_out_families(collector), False
    except CollectorError as exc:
        error, families, success = str(exc), exc.families, False
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        families, success = [], False
    else:
        error, success = "", True
    duration = time.perf_counter() - start
    return Outcome(collector.name, success, duration, families, error)


def _timed_out_families(collector: Collector) -> list[Family]:
    """What a collector says when it ran out of time, if it says anything (`TimedOut`)."""
    return collector.timed_out_families() if isinstance(collector, TimedOut) else []


def outcome_families(outcomes: list[Outcome]) -> list[Family]:
    success = gauge(
        "scrape_collector_success",
        "Whether the collector succeeded (1) or failed or timed out (0) in this scrape.",
        ["collector"],
    )
    duration = gauge(
        "scrape_collector_duration_seconds",
        "How long the collector took in this scrape, in seconds.",
        ["collector"],
    )
    for outcome in outcomes:
        success.add((outcome.name,), 1 if outcome.success else 0)
        duration.add((outcome.name,), outcome.duration)
    return [success, duration]


class SingleFlight(Generic[T]):
    """At most one run of an async job at a time.

    A caller that times out leaves the job running; the next caller first waits for that
    job (within its own deadline) and then starts a fresh one, so a hung source never
    piles up work and every caller still gets data fetched after it arrived.
    """

    def __init__(self, job: Callable[[], Awaitable[T]]) -> None:
        self._job = job
        self._task: asyncio.Task[T] | None = None

    async def run(self) -> T:
        if self._task is not None and not self._task.done():
            # Wait for the stale run; errors of that run are not ours to report.
            await asyncio.wait([self._task])
        self._task = asyncio.ensure_future(self._job())
        return await asyncio.shield(self._task)


# Reads of local files (/proc, /sys, /dev) take this lock, one after another: each syscall
# lets the GIL go, and a dozen collectors reading side by side handed it back and forth at
# every read (measured at 100 domains: ~10k futex calls and ~35 ms more CPU per scrape than
# the same reads in turn). A read stuck in the kernel delays the others by LOCAL_WAIT at most.
_LOCAL_READS = threading.Lock()
LOCAL_WAIT = 0.25


def in_turn(read: Callable[[], T]) -> T:
    """Run a local read after the others in progress (or after LOCAL_WAIT, whichever first)."""
    taken = _LOCAL_READS.acquire(timeout=LOCAL_WAIT)
    try:
        return read()
    finally:
        if taken:
            _LOCAL_READS.release()


def in_thread(read: Callable[[], T], local: bool = False) -> SingleFlight[T]:
    """A blocking read (files, sysfs, psutil) run in a worker thread, one at a time: a read
    that hangs (a sick filesystem, a stuck device) holds one thread, never more. `local`
    reads (files only, no calls to other processes) run in turn with the other local ones."""

    async def job() -> T:
        return await asyncio.to_thread(in_turn, read) if local else await asyncio.to_thread(read)

    return SingleFlight(job)


def read_errors_family(collector: str, errors: int) -> Family:
    """`kvm_collector_read_errors_total`: values a collector skipped because they were
    unreadable or garbled."""
    family = counter("collector_read_errors", "Values a collector found but could not read "
                     "or parse (skipped), since the exporter started.", ["collector"])
    family.add((collector,), errors)
    return family


class ThreadedCollector(Generic[T]):
    """The common collector: `read()` a snapshot of local files in a worker thread (single
    flight, in turn with the other local reads), then `build(snapshot)` its families.
    Subclasses set `name`."""

    name = ""

    def __init__(self, read: Callable[[], T], build: Callable[[T], list[Family]]) -> None:
        self._build = build
        self._flight: SingleFlight[T] = in_thread(read, local=True)

    async def collect(self) -> list[Family]:
        return self._build(await self._flight.run())

    async def close(self) -> None:
        return None


class SysfsCollector(ThreadedCollector[T]):
    """Reads a snapshot with `read(reader)` off the event loop, then `build(snapshot)`, and
    adds `kvm_collector_read_errors_total` for what it could not read. The latest snapshot
    stays in `last` for collectors that build more on it."""

    def __init__(self, sysfs: str, read: Callable[[SysfsReader], T],
                 build: Callable[[T], list[Family]]) -> None:
        self._sysfs = sysfs
        self._read = read
        self._read_errors = 0
        self.last: T | None = None
        super().__init__(self._read_counting_errors, build)

    def _read_counting_errors(self) -> T:
        reader = SysfsReader(self._sysfs)
        snapshot = self._read(reader)
        self._read_errors += reader.errors
        return snapshot

    async def collect(self) -> list[Family]:
        self.last = await self._flight.run()
        return [*self._build(self.last), read_errors_family(self.name, self._read_errors)]


class SharedCollection:
    """Concurrent scrapes of the same collectors share one in-flight collection; sequential
    ones never see a copy."""

    def __init__(self, collectors: list[Collector], timeout: float,
                 on_collection: Callable[[], None] | None = None) -> None:
        self.collectors = collectors
        self.timeout = timeout
        self._on_collection = on_collection  # e.g. a new libvirt inventory per collection
        self.last: dict[str, Outcome] = {}
        self._inflight: dict[frozenset[str], asyncio.Task[list[Outcome]]] = {}

    async def collect(self, names: frozenset[str] | None = None) -> list[Outcome]:
        """Run every collector, or only those `names` (node_exporter's `collect[]`)."""
        chosen = [c for c in self.collectors if names is None or c.name in names]
        key = frozenset(c.name for c in chosen)
        task = self._inflight.get(key)
        if task is None or task.done():
            task = self._inflight[key] = asyncio.ensure_future(self._collect_all(chosen))
            task.add_done_callback(lambda _: self._inflight.pop(key, None))  # only in-flight ones kept
        return await asyncio.shield(task)

    async def _collect_all(self, collectors: list[Collector]) -> list[Outcome]:
        if self._on_collection is not None:
            self._on_collection()
        outcomes = await asyncio.gather(*(run_collector(collector, self.timeout) for collector in collectors))
        for outcome in outcomes:
            _log_change(self.last.get(outcome.name), outcome)
            self.last[outcome.name] = outcome
        return list(outcomes)


def _log_change(previous: Outcome | None, current: Outcome) -> None:
    """Log when a collector starts failing, fails differently, or recovers; not every scrape."""
    if not current.success and (previous is None or previous.error != current.error):
        log.warning("collector failed", extra={"collector": current.name, "err": current.error})
    elif current.success and previous is not None and not previous.success:
        log.info("collector recovered", extra={"collector": current.name})
