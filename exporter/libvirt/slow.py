"""Domain stats whose source refreshes slowly: read in the background at the source's own
cadence and served with their age, instead of costing QEMU monitor round trips in every
scrape (freshness follows the source).

- `balloon` (guest memory statistics, balloon size): the guest pushes its statistics every
  `<memballoon><stats period>` seconds and libvirt asks QEMU for them (`qom-get` and
  `query-balloon`, two round trips). A domain is read again just after the guest's next
  push (its `balloon.last-update` plus the period), at once after a balloon-change or
  reboot event, and every slow interval when it has no stats period (the balloon size
  changes only with a balloon-change event). A guest that has a period but has not pushed
  yet is read a little more often than its period, so the copy is never a period old.
- `vcpu` (KVM's per-vCPU statistics: exits, halt polling, ...; one `query-stats`): every
  slow interval. The vCPU times and delays next to them are read fresh from /proc in every
  scrape (`vcpus.py`).

A domain that is new, or restarted since its last read, has no entry: the next scrape's
stats call reads its slow groups together with the fresh ones, so no scrape misses them.
All methods are thread-safe: events arrive on libvirt's event thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import libvirt

SLOW_GROUPS = {"balloon": libvirt.VIR_DOMAIN_STATS_BALLOON, "vcpu": libvirt.VIR_DOMAIN_STATS_VCPU}
PUSH_SLACK = 0.5  # seconds after the guest's push before reading it
RETRY = 5.0  # seconds before a skipped or failed read is tried again

URGENT_EVENTS = {
    libvirt.VIR_DOMAIN_EVENT_ID_BALLOON_CHANGE: ("balloon",),
    libvirt.VIR_DOMAIN_EVENT_ID_REBOOT: ("balloon", "vcpu"),
}


def group_of(key: str) -> str | None:
    prefix = key.split(".", 1)[0]
    return prefix if prefix in SLOW_GROUPS else None


def split_groups(stats: dict[str, Any], groups: frozenset[str]) -> dict[str, dict[str, Any]]:
    parts: dict[str, dict[str, Any]] = {group: {} for group in groups}
    for key, value in stats.items():
        group = group_of(key)
        if group in parts:
            parts[group][key] = value
    return parts


@dataclass(slots=True)
class Entry:
    stats: dict[str, Any]
    read_at: float  # time.monotonic() of the read
    due: float  # when to read again (monotonic)


class SlowStats:
    def __init__(self, groups: frozenset[str], interval: float) -> None:
        self.groups = groups & SLOW_GROUPS.keys()
        self.interval = interval
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], Entry] = {}  # (uuid, group) -> last read
        self._periods: dict[str, int] = {}  # uuid -> balloon stats period (0: none)
        self.on_urgent: Callable[[], None] = lambda: None  # an event wants a read at once

    def flags(self) -> int:
        flags = 0
        for group in self.groups:
            flags |= int(SLOW_GROUPS[group])
        return flags

    def set_period(self, uuid: str, period: int) -> None:
        self._periods[uuid] = period

    def missing(self, uuid: str) -> bool:
        """Whether any slow group of the domain has never been read (new or restarted)."""
        with self._lock:
            return any((uuid, group) not in self._entries for group in self.groups)

    def store(self, uuid: str, stats: dict[str, Any], now: float | None = None) -> None:
        """Keep the slow groups of one stats answer."""
        now = time.monotonic() if now is None else now
        with self._lock:
            for group, part in split_groups(stats, self.groups).items():
                if not part:  # not asked for in this call
                    continue
                previous = self._entries.get((uuid, group))
                if previous is not None and not _refreshed(group, part, previous.stats):
                    previous.due = now + RETRY  # QEMU was not asked: keep what it last said
                    continue
                self._entries[(uuid, group)] = Entry(part, now, self._next_due(uuid, group, part, now))

    def failed(self, uuids: list[str], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            for uuid in uuids:
                for group in self.groups:
                    entry = self._entries.get((uuid, group))
                    if entry is not None:
                        entry.due = now + RETRY

    def _next_due(self, uuid: str, group: str, stats: dict[str, Any], now: float) -> float:
        period = self._periods.get(uuid, 0) if group == "balloon" else 0
        if period <= 0:
            return now + self.interval
        pushed = stats.get("balloon.last-update", 0)
        wall = time.time()
        if isinstance(pushed, int) and wall - 2 * period <= pushed <= wall:
            return now + max(1.0, pushed + period + PUSH_SLACK - wall)
        return now + max(1.0, period - PUSH_SLACK)  # a little early: never older than a period

    def due(self, uuids: list[str], now: float | None = None) -> dict[str, list[str]]:
        """group -> the domains (of `uuids`) whose read of it is due."""
        now = time.monotonic() if now is None else now
        found: dict[str, list[str]] = {group: [] for group in self.groups}
        with self._lock:
            for uuid in uuids:
                for group in self.groups:
                    entry = self._entries.get((uuid, group))
                    if entry is not None and entry.due <= now:
                        found[group].append(uuid)
        return {group: members for group, members in found.items() if members}

    def next_due(self) -> float | None:
        with self._lock:
            return min((entry.due for entry in self._entries.values()), default=None)

    def overlay(self, uuid: str, stats: dict[str, Any],
                now: float | None = None) -> tuple[dict[str, Any], dict[str, float]]:
        """The domain's slow stats under `stats` (fresh keys win), and their ages."""
        now = time.monotonic() if now is None else now
        merged: dict[str, Any] = {}
        ages: dict[str, float] = {}
        with self._lock:
            for group in self.groups:
                entry = self._entries.get((uuid, group))
                if entry is not None:
                    merged.update(entry.stats)
                    ages[group] = max(0.0, now - entry.read_at)
        merged.update(stats)
        return merged, ages

    def event(self, uuid: str, event_id: int) -> None:
        """A libvirt event: a lifecycle change makes the domain's stats of another run
        worthless (read anew with the next scrape); balloon-change and reboot events make
        their groups due now."""
        with self._lock:
            if event_id == libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE:
                for group in self.groups:
                    self._entries.pop((uuid, group), None)
                return
            groups = URGENT_EVENTS.get(event_id, ())
            for group in groups:
                entry = self._entries.get((uuid, group))
                if entry is not None:
                    entry.due = 0.0
        if groups:
            self.on_urgent()

    def retain(self, uuids: set[str]) -> None:
        with self._lock:
            for key in [key for key in self._entries if key[0] not in uuids]:
                del self._entries[key]
            for uuid in self._periods.keys() - uuids:
                del self._periods[uuid]


def _from_qemu(group: str, stats: dict[str, Any]) -> set[str]:
    """The keys of a group's answer that libvirt asked QEMU for: the guest's memory statistics
    (all but the balloon size and maximum), KVM's per-vCPU counters (`vcpu.0.exits.sum`)."""
    if group == "balloon":
        return stats.keys() - {"balloon.current", "balloon.maximum"}
    return {key for key in stats if key.count(".") >= 3}


def _refreshed(group: str, new: dict[str, Any], old: dict[str, Any]) -> bool:
    """False when QEMU was not asked this time (NOWAIT while a job runs) but was last time."""
    return bool(_from_qemu(group, new)) or not _from_qemu(group, old)
