"""Names for libvirt's domain state, state reason, job and disk error codes (libvirt-domain.h)."""

from __future__ import annotations

STATES = ("nostate", "running", "blocked", "paused", "shutdown", "shutoff", "crashed",
          "pmsuspended")

REASONS: dict[int, tuple[str, ...]] = {
    0: ("unknown",),
    1: ("unknown", "booted", "migrated", "restored", "from_snapshot", "unpaused",
        "migration_canceled", "save_canceled", "wakeup", "crashed", "postcopy",
        "postcopy_failed"),
    2: ("unknown",),
    3: ("unknown", "user", "migration", "save", "dump", "ioerror", "watchdog", "from_snapshot",
        "shutting_down", "snapshot", "crashed", "starting_up", "postcopy", "postcopy_failed",
        "api_error"),
    4: ("unknown", "user"),
    5: ("unknown", "shutdown", "destroyed", "crashed", "migrated", "saved", "failed",
        "from_snapshot", "daemon"),
    6: ("unknown", "panicked"),
    7: ("unknown",),
}

JOB_TYPES = ("none", "bounded", "unbounded", "completed", "failed", "cancelled")
JOB_OPERATIONS = ("unknown", "start", "save", "restore", "migration_in", "migration_out",
                  "snapshot", "snapshot_revert", "dump", "backup", "snapshot_delete")
DISK_ERRORS = ("none", "unspec", "no_space")

ACTIVE_STATES = frozenset({1, 2, 3, 4, 7})
PAUSED = 3


def _name(table: tuple[str, ...], code: int) -> str:
    return table[code] if 0 <= code < len(table) else f"code_{code}"


def state_name(code: int) -> str:
    return _name(STATES, code)


def reason_name(state: int, reason: int) -> str:
    return _name(REASONS.get(state, ("unknown",)), reason)


def job_type_name(code: int) -> str:
    return _name(JOB_TYPES, code)


def job_operation_name(code: int) -> str:
    return _name(JOB_OPERATIONS, code)


def disk_error_name(code: int) -> str:
    return _name(DISK_ERRORS, code)


# virDomainEventType and its per-type detail enums.
EVENTS = ("defined", "undefined", "started", "suspended", "resumed", "stopped", "shutdown",
          "pmsuspended", "crashed")
EVENT_DETAILS: dict[int, tuple[str, ...]] = {
    0: ("added", "updated", "renamed", "from_snapshot"),
    1: ("removed", "renamed"),
    2: ("booted", "migrated", "restored", "from_snapshot", "wakeup", "recreated"),
    3: ("paused", "migrated", "ioerror", "watchdog", "restored", "from_snapshot", "api_error",
        "postcopy", "postcopy_failed"),
    4: ("unpaused", "migrated", "from_snapshot", "postcopy", "postcopy_failed"),
    5: ("shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "from_snapshot"),
    6: ("finished", "guest", "host"),
    7: ("memory", "disk"),
    8: ("panicked", "crashloaded"),
}


def event_name(event: int) -> str:
    return _name(EVENTS, event)


def event_detail_name(event: int, detail: int) -> str:
    return _name(EVENT_DETAILS.get(event, ()), detail)
