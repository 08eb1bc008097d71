"""The config collector (fault config_corruption): every libvirt XML and .conf file parses,
when it last changed, how often its content changed, and whether each persistent domain's
file on disk still says what libvirt has defined (drift)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import libvirt

from exporter.collector import CollectorError, SingleFlight, in_thread, register
from exporter.collectors.config.files import ConfigFile, ConfigWatcher, domain_files, normalized_domain_xml
from exporter.libvirt.connection import is_missing_domain
from exporter.libvirt.shared import SharedLibvirt
from exporter.metrics import Family, counter, gauge
from exporter.options import Option
from exporter.settings import Settings
from exporter.shared import Shared
from exporter.sysfs import read_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConfigSnapshot:
    files: list[ConfigFile]
    drift: dict[str, bool] | None  # None: libvirt could not be asked


def config_families(snapshot: ConfigSnapshot) -> list[Family]:
    valid = gauge("libvirt_config_file_valid", "Whether the libvirt configuration file parses (1) "
                  "or is corrupt (0); absent while it cannot be read.", ["path", "kind"])
    readable = gauge("libvirt_config_file_readable", "Whether the exporter can read the libvirt "
                     "configuration file (1) or not (0: permissions, a dangling link).", ["path"])
    mtime = gauge("libvirt_config_file_modified_time_seconds", "When the libvirt configuration "
                  "file was last modified, as a Unix timestamp.", ["path"])
    changes = counter("libvirt_config_file_changes", "Content changes of the libvirt configuration "
                      "file seen since the exporter started.", ["path"])
    for file in snapshot.files:
        readable.add((file.path,), 1 if file.readable else 0)
        if file.readable:
            valid.add((file.path, file.kind), 0 if file.error else 1)
        mtime.add((file.path,), file.mtime)
        changes.add((file.path,), file.changes)
    families = [valid, readable, mtime, changes]
    if snapshot.drift is not None:
        drift = gauge("domain_config_drift", "Whether the domain's definition file on disk differs "
                      "from what libvirt has defined, or exists on only one side (1) or not (0).",
                      ["domain"])
        for domain, differs in sorted(snapshot.drift.items()):
            drift.add((domain,), 1 if differs else 0)
        families.append(drift)
    return families


class DriftChecker:
    """Compares `qemu/<name>.xml` with libvirt's inactive definition, again only when the
    file changed or libvirt reported an event for the domain (define, undefine, ...)."""

    def __init__(self, libvirt_source: SharedLibvirt) -> None:
        self._libvirt = libvirt_source
        self._cache: dict[str, tuple[tuple[Any, ...], bool | None]] = {}

    def check(self, directory: Path, files: dict[str, ConfigFile]) -> dict[str, bool]:
        inventory = self._libvirt.inventory()
        conn = inventory.conn
        on_disk = domain_files(files)
        defined = inventory.persistent_names()
        drift = {name: True for name in defined - on_disk.keys()}
        generation = self._libvirt.connection.generation
        for name, file in on_disk.items():
            key = (file.signature, self._libvirt.lifecycle_events_of(name), generation, name in defined)
            cached = self._cache.get(name)
            if cached is None or cached[0] != key:
                cached = (key, self._differs(conn, directory / file.path, name))
                self._cache[name] = cached
            if cached[1] is not None:
                drift[name] = cached[1]
        for gone in self._cache.keys() - on_disk.keys():
            del self._cache[gone]
        return drift

    @staticmethod
    def _differs(conn: Any, path: Path, name: str) -> bool | None:
        """None when the file cannot be read: drift is then unknown, not reported."""
        try:
            defined = conn.lookupByName(name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        except libvirt.libvirtError as exc:
            if is_missing_domain(exc):
                return True
            raise
        try:
            on_disk = read_file(path)
        except OSError:
            return None
        try:
            return normalized_domain_xml(on_disk) != normalized_domain_xml(defined)
        except ValueError:
            return True  # corrupt on disk: libvirt would not load it back


class ConfigCollector:
    name = "config"

    def __init__(self, directory: str, libvirt_source: SharedLibvirt) -> None:
        self._watcher = ConfigWatcher(Path(directory))
        self._drift = DriftChecker(libvirt_source)
        self._libvirt_error = ""
        self._flight: SingleFlight[ConfigSnapshot] = in_thread(self._read)

    def _read(self) -> ConfigSnapshot:
        scan = self._watcher.scan()
        for file in scan.newly_invalid:
            log.warning("libvirt configuration file does not parse",
                        extra={"path": str(self._watcher.directory / file.path), "err": file.error})
        try:
            drift: dict[str, bool] | None = self._drift.check(self._watcher.directory, scan.files)
        except libvirt.libvirtError as exc:
            if str(exc) != self._libvirt_error:
                log.warning("cannot compare domain definitions with libvirt", extra={"err": str(exc)})
            self._libvirt_error, drift = str(exc), None
        else:
            self._libvirt_error = ""
        return ConfigSnapshot(sorted(scan.files.values(), key=lambda f: f.path), drift)

    async def collect(self) -> list[Family]:
        try:
            snapshot = await self._flight.run()
        except OSError as exc:
            raise CollectorError(f"libvirt config dir {self._watcher.directory}: "
                                 f"{exc.strerror or exc}", []) from exc
        return config_families(snapshot)

    async def close(self) -> None:
        return None  # the libvirt source is the app's, closed with it


CONFIG_DIR = Option("libvirt.config-dir", "etc/libvirt", "libvirt's configuration directory to check.",
                    under_rootfs=True)


@register("config", default_enabled=True, options=[CONFIG_DIR],
          description="libvirt configuration files parse, change, and match libvirt's definitions")
def create(settings: Settings, shared: Shared) -> ConfigCollector:
    return ConfigCollector(CONFIG_DIR.of(settings), shared.libvirt)
