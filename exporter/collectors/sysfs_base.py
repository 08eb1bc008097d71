"""What the sysfs collectors share: a reader in a worker thread and the read-error counter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from exporter.collector import SingleFlight, in_thread
from exporter.metrics import Family, counter
from exporter.sysfs import SysfsReader

T = TypeVar("T")


class SysfsCollector(Generic[T]):
    """Reads a snapshot with `read(reader)` off the event loop, then `build(snapshot)`."""

    name = ""

    def __init__(self, sysfs: str, read: Callable[[SysfsReader], T],
                 build: Callable[[T], list[Family]]) -> None:
        self._sysfs = sysfs
        self._read = read
        self._build = build
        self._read_errors = 0
        self.last: T | None = None
        self._flight: SingleFlight[T] = in_thread(self._read_counting_errors)

    def _read_counting_errors(self) -> T:
        reader = SysfsReader(self._sysfs)
        snapshot = self._read(reader)
        self._read_errors += reader.errors
        return snapshot

    async def collect(self) -> list[Family]:
        self.last = await self._flight.run()
        families = self._build(self.last)
        errors = counter("collector_read_errors", "Values a collector found but could not read "
                         "or parse (skipped), since the exporter started.", ["collector"])
        errors.add((self.name,), self._read_errors)
        return [*families, errors]

    async def close(self) -> None:
        return None
