"""The one libvirt source of the app, shared by every collector that reads libvirt (libvirt,
storage, config): one read-only connection, one event registration, one XML cache, and one
domain inventory per collection.

The inventory (every domain, and which are active, persistent, autostart) is fetched once
per collection by whichever collector asks first; the others of the same collection get
that answer, and the next collection fetches anew. All blocking methods run in worker
threads; `close()` never blocks the event loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import libvirt

from exporter.libvirt.connection import EVENT_NAMES, Connection, is_connection_error
from exporter.libvirt.domxml import DomainXMLInfo, parse_domain_xml

log = logging.getLogger(__name__)

XML_MAX_AGE = 300.0
# Events after which a domain's XML may differ (devices, metadata, a new run).
XML_EVENTS = frozenset({
    libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
    libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_ADDED,
    libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
    libvirt.VIR_DOMAIN_EVENT_ID_METADATA_CHANGE,
    libvirt.VIR_DOMAIN_EVENT_ID_TUNABLE,
})


class XMLCache:
    """Parsed domain XML by UUID, with the domain id it was read for."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[int, float, DomainXMLInfo]] = {}
        self._dirty: set[str] = set()

    def mark_dirty(self, uuid: str) -> None:
        self._dirty.add(uuid)

    def get(self, uuid: str, dom_id: int, stats: dict[str, Any]) -> DomainXMLInfo | None:
        entry = self._entries.get(uuid)
        if entry is None or uuid in self._dirty:
            return None
        cached_id, read_at, info = entry
        if cached_id != dom_id or time.monotonic() - read_at > XML_MAX_AGE:
            return None
        if not _targets_match(info, stats):
            return None
        return info

    def put(self, uuid: str, dom_id: int, info: DomainXMLInfo) -> None:
        self._dirty.discard(uuid)
        self._entries[uuid] = (dom_id, time.monotonic(), info)

    def retain(self, uuids: set[str]) -> None:
        for uuid in set(self._entries) - uuids:
            del self._entries[uuid]


def _targets_match(info: DomainXMLInfo, stats: dict[str, Any]) -> bool:
    """Hot-plugged or removed devices show up in the stats before any refresh."""
    return (_names(stats, "block") <= info.disk_targets
            and _names(stats, "net") <= info.interface_targets)


def _names(stats: dict[str, Any], group: str) -> set[Any]:
    """The device names of a stats group (`block.<i>.name` for i below `block.count`)."""
    count = stats.get(f"{group}.count", 0)
    names = (stats.get(f"{group}.{index}.name") for index in range(count if isinstance(count, int) else 0))
    return {name for name in names if name is not None}


@dataclass(frozen=True)
class Inventory:
    conn: Any
    domains: list[Any]
    active: frozenset[str]  # UUIDs
    persistent: frozenset[str]
    autostart: frozenset[str]

    def persistent_names(self) -> set[str]:
        return {dom.name() for dom in self.domains if dom.UUIDString() in self.persistent}


class SharedLibvirt:
    def __init__(self, uri: str) -> None:
        self.connection = Connection(uri)
        self._events: Counter[str] = Counter()  # domain UUID -> XML events seen
        self.event_counts: Counter[str] = Counter()  # event name -> events received
        self._lifecycle: Counter[str] = Counter()  # domain name -> lifecycle events seen
        self.xml_cache = XMLCache()
        self.connection.subscribe(domain_event=self._domain_event, lifecycle=self._lifecycle_event)
        self._lock = threading.Lock()
        self._collection = 0
        self._scoped = False  # until the app scopes collections, every call fetches anew
        self._fetched: tuple[int, Inventory | libvirt.libvirtError] | None = None

    def _domain_event(self, uuid: str, event_id: int) -> None:
        self.event_counts[EVENT_NAMES.get(event_id, str(event_id))] += 1
        if event_id in XML_EVENTS:
            self._events[uuid] += 1
            self.xml_cache.mark_dirty(uuid)

    def _lifecycle_event(self, name: str, _event: int, _detail: int) -> None:
        self._lifecycle[name] += 1

    def events_of(self, uuid: str) -> int:
        """How many XML events libvirt sent for this domain: a cache key part that changes
        when the domain's definition or devices may have."""
        return self._events[uuid]

    def lifecycle_events_of(self, name: str) -> int:
        return self._lifecycle[name]

    def forget_except(self, uuids: set[str], names: set[str]) -> None:
        """Drop the event counts of domains that are gone."""
        for uuid in set(self._events) - uuids:
            del self._events[uuid]
        for name in set(self._lifecycle) - names:
            del self._lifecycle[name]

    def begin_collection(self) -> None:
        """A new collection starts: the next `inventory()` fetches anew."""
        self._scoped = True
        self._collection += 1

    def inventory(self) -> Inventory:
        """The domains of this collection (blocking: call it in a worker thread). Raises
        libvirt.libvirtError when libvirt cannot be reached, for every caller of the
        collection alike."""
        with self._lock:
            fetched = self._fetched
            if not self._scoped or fetched is None or fetched[0] != self._collection:
                try:
                    result: Inventory | libvirt.libvirtError = self._fetch_with_retry()
                except libvirt.libvirtError as exc:
                    result = exc
                fetched = self._fetched = (self._collection, result)
        if isinstance(fetched[1], libvirt.libvirtError):
            raise fetched[1]
        return fetched[1]

    def _fetch_with_retry(self) -> Inventory:
        try:
            return self._fetch()
        except libvirt.libvirtError as exc:
            if not is_connection_error(exc):
                raise
            self.connection.drop()  # libvirtd restarted under us: one fresh try
            return self._fetch()

    def _fetch(self) -> Inventory:
        conn = self.connection.get()
        domains = conn.listAllDomains(0)

        def uuids(flag: int) -> frozenset[str]:
            return frozenset(dom.UUIDString() for dom in conn.listAllDomains(flag))

        inventory = Inventory(conn, domains, uuids(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE),
                              uuids(libvirt.VIR_CONNECT_LIST_DOMAINS_PERSISTENT),
                              uuids(libvirt.VIR_CONNECT_LIST_DOMAINS_AUTOSTART))
        present = {dom.UUIDString() for dom in domains}
        self.xml_cache.retain(present)
        self.forget_except(present, {dom.name() for dom in domains})
        return inventory

    def domain_xml(self, dom: Any, uuid: str, dom_id: int,
                   stats: dict[str, Any] | None = None) -> DomainXMLInfo | None:
        """The domain's parsed XML from the one cache, read anew when the domain is new,
        restarted, hot-plugged (`stats` names devices the cached XML lacks), announced by an
        event or older than XML_MAX_AGE; None if it does not parse. Blocking."""
        info = self.xml_cache.get(uuid, dom_id, stats or {})
        if info is not None:
            return info
        try:
            info = parse_domain_xml(dom.XMLDesc(0))
        except ValueError as exc:
            log.warning("unreadable domain XML", extra={"domain": dom.name(), "err": str(exc)})
            return None
        self.xml_cache.put(uuid, dom_id, info)
        return info

    async def close(self) -> None:
        await self.connection.close()
