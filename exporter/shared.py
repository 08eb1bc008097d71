"""What the collectors of one app share, made on first use and released with the app (its
`cleanup_ctx`, after the collectors): the libvirt source, and which QEMU process runs which
domain, read once per collection for the kernel, QEMU and libvirt collectors alike."""

from __future__ import annotations

import threading
from pathlib import Path

from exporter.libvirt.shared import SharedLibvirt
from exporter.qemu_pids import RunningDomains
from exporter.settings import Settings


class Shared:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._libvirt: SharedLibvirt | None = None
        self._running = RunningDomains(Path(settings.libvirt_run_dir), Path(settings.path_procfs))
        self._running_lock = threading.Lock()
        self._collection = 0
        self._scoped = False  # until the app scopes collections, every call reads anew
        self._running_read: tuple[int, dict[str, int]] | None = None

    @property
    def libvirt(self) -> SharedLibvirt:
        if self._libvirt is None:
            self._libvirt = SharedLibvirt(self._settings.libvirt_uri)
        return self._libvirt

    def running_domains(self) -> dict[str, int]:
        """domain -> pid of its QEMU process in this collection (blocking: call it in a
        worker thread). A copy: callers may keep or change it."""
        with self._running_lock:
            read = self._running_read
            if not self._scoped or read is None or read[0] != self._collection:
                read = self._running_read = (self._collection, self._running.read())
            return dict(read[1])

    def begin_collection(self) -> None:
        with self._running_lock:
            self._scoped = True
            self._collection += 1
        if self._libvirt is not None:
            self._libvirt.begin_collection()

    async def close(self) -> None:
        if self._libvirt is not None:
            await self._libvirt.close()
