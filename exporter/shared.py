"""What the collectors of one app share, made on first use and released with the app (its
`cleanup_ctx`, after the collectors): the libvirt source."""

from __future__ import annotations

from exporter.libvirt.shared import SharedLibvirt
from exporter.settings import Settings


class Shared:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._libvirt: SharedLibvirt | None = None

    @property
    def libvirt(self) -> SharedLibvirt:
        if self._libvirt is None:
            self._libvirt = SharedLibvirt(self._settings.libvirt_uri)
        return self._libvirt

    def begin_collection(self) -> None:
        if self._libvirt is not None:
            self._libvirt.begin_collection()

    async def close(self) -> None:
        if self._libvirt is not None:
            await self._libvirt.close()
