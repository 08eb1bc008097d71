"""What the sysfs collectors share: a reader in a worker thread and the read-error counter."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from exporter.collector import ThreadedCollector, read_errors_family
from exporter.metrics import Family
from exporter.sysfs import SysfsReader

T = TypeVar("T")


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
