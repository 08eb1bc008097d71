"""One persistent read-only libvirt connection, reopened after libvirtd goes away.

libvirt's default event loop runs on a dedicated daemon thread: it drives keepalive (so a
dead or frozen daemon closes the connection instead of hanging calls forever) and delivers
domain events, which tell the XML cache which domains to re-read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

import libvirt

log = logging.getLogger(__name__)

_event_loop_lock = threading.Lock()
_event_loop_started = False

KEEPALIVE_INTERVAL = 5
KEEPALIVE_COUNT = 3

CONNECTION_ERRORS = frozenset(
    {
        libvirt.VIR_ERR_SYSTEM_ERROR,
        libvirt.VIR_ERR_RPC,
        libvirt.VIR_ERR_NO_CONNECT,
        libvirt.VIR_ERR_INVALID_CONN,
        libvirt.VIR_ERR_INTERNAL_ERROR,
        libvirt.VIR_ERR_AUTH_FAILED,
        libvirt.VIR_ERR_OPERATION_FAILED,
    }
)

# The events besides lifecycle that the app's readers act on, by the name they are counted as.
DOMAIN_EVENTS = {
    libvirt.VIR_DOMAIN_EVENT_ID_REBOOT: "reboot",
    libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_ADDED: "device_added",
    libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED: "device_removed",
    libvirt.VIR_DOMAIN_EVENT_ID_BALLOON_CHANGE: "balloon_change",
    libvirt.VIR_DOMAIN_EVENT_ID_BLOCK_THRESHOLD: "block_threshold",
    libvirt.VIR_DOMAIN_EVENT_ID_JOB_COMPLETED: "job_completed",
    libvirt.VIR_DOMAIN_EVENT_ID_METADATA_CHANGE: "metadata_change",
    libvirt.VIR_DOMAIN_EVENT_ID_TUNABLE: "tunable",  # vcpupin, emulatorpin, blkdeviotune, ...
}
EVENT_NAMES = {libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE: "lifecycle", **DOMAIN_EVENTS}


def _ignore_libvirt_error(_ctx: object, _err: object) -> None:
    """libvirt prints every error to stderr by default; we report errors ourselves."""


def ensure_event_loop() -> None:
    """Register libvirt's default event implementation once per process and run it."""
    global _event_loop_started
    with _event_loop_lock:
        if _event_loop_started:
            return
        libvirt.registerErrorHandler(_ignore_libvirt_error, None)
        libvirt.virEventRegisterDefaultImpl()
        thread = threading.Thread(target=_run_event_loop, name="libvirt-events", daemon=True)
        thread.start()
        _event_loop_started = True


def _run_event_loop() -> None:
    while True:
        try:
            libvirt.virEventRunDefaultImpl()
        except libvirt.libvirtError:
            log.exception("libvirt event loop iteration failed")


def _release(conn: Any, callbacks: list[int]) -> None:
    for callback in callbacks:
        with contextlib.suppress(libvirt.libvirtError):
            conn.domainEventDeregisterAny(callback)
    # no close(): the stuck call still uses it; the last reference going closes it


def is_connection_error(exc: BaseException) -> bool:
    return isinstance(exc, libvirt.libvirtError) and exc.get_error_code() in CONNECTION_ERRORS


_ERROR_LEVELS = {"VIR_ERR_NONE", "VIR_ERR_WARNING", "VIR_ERR_ERROR"}  # levels, not codes
_ERROR_NAMES = {getattr(libvirt, name): name.removeprefix("VIR_ERR_").lower()
                for name in sorted(dir(libvirt), reverse=True)
                if name.startswith("VIR_ERR_") and name not in _ERROR_LEVELS}


def error_reason(exc: libvirt.libvirtError) -> str:
    """A libvirt error as a label value: `operation_timeout`, `operation_invalid`, ..."""
    code = exc.get_error_code()
    return _ERROR_NAMES.get(code, f"error_{code}")


def is_missing_domain(exc: BaseException) -> bool:
    return isinstance(exc, libvirt.libvirtError) and exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN


class Connection:
    """Holds the connection; every method runs in a worker thread, never on the event loop."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._domain_listeners: list[Callable[[str, int], None]] = []
        self._lifecycle_listeners: list[Callable[[str, int, int], None]] = []
        self._conn: Any = None
        self._callbacks: list[int] = []  # event callback ids on the current connection
        self._lock = threading.Lock()
        self._retired = False  # the next connection replaces a retired one, not a lost one
        self.generation = 0  # counts sessions after a lost one: events may have been missed

    def subscribe(self, domain_event: Callable[[str, int], None] | None = None,
                  lifecycle: Callable[[str, int, int], None] | None = None) -> None:
        """Hear of events from the one registration: `domain_event(uuid, event_id)` for any
        domain event (lifecycle and DOMAIN_EVENTS), `lifecycle(name, event, detail)`.
        Callbacks run on the libvirt event thread and must not block."""
        if domain_event is not None:
            self._domain_listeners.append(domain_event)
        if lifecycle is not None:
            self._lifecycle_listeners.append(lifecycle)

    def get(self) -> Any:
        """Return a live connection, opening a new one if there is none or it died."""
        with self._lock:
            conn = self._conn
            if conn is not None:
                try:
                    if conn.isAlive():
                        return conn
                except libvirt.libvirtError:
                    pass
                self._drop_locked()
            ensure_event_loop()
            conn = libvirt.openReadOnly(self.uri)
            self._configure(conn)
            self._conn = conn
            if not self._retired:
                self.generation += 1
            self._retired = False
            log.info("connected to libvirt", extra={"uri": self.uri})
            return conn

    def _configure(self, conn: Any) -> None:
        # Local drivers (test:///) have neither keepalive nor close callbacks.
        with contextlib.suppress(libvirt.libvirtError):
            conn.setKeepAlive(KEEPALIVE_INTERVAL, KEEPALIVE_COUNT)
        with contextlib.suppress(libvirt.libvirtError):
            conn.registerCloseCallback(self._closed, None)
        self._callbacks = []
        try:
            self._callbacks.append(conn.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._lifecycle_event, None))
        except libvirt.libvirtError:
            log.debug("lifecycle events not supported", extra={"uri": self.uri})
        for event in DOMAIN_EVENTS:
            try:
                self._callbacks.append(conn.domainEventRegisterAny(None, event, self._domain_event, event))
            except libvirt.libvirtError:
                log.debug("domain event not supported", extra={"event": event})

    def _domain_event(self, _conn: Any, dom: Any, *args: Any) -> None:
        """Every event callback's last argument is its opaque: here the event id."""
        uuid = dom.UUIDString()
        for listener in self._domain_listeners:
            listener(uuid, args[-1])

    def _lifecycle_event(self, _conn: Any, dom: Any, event: int, detail: int, _opaque: Any) -> None:
        self._domain_event(_conn, dom, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE)
        name = dom.name()
        for listener in self._lifecycle_listeners:
            listener(name, event, detail)

    def _closed(self, conn: Any, reason: int, _opaque: Any) -> None:
        # Runs on the event loop thread; never wait for _lock here, a worker may hold it
        # while it opens a connection to a daemon that does not answer.
        log.warning("libvirt connection closed", extra={"uri": self.uri, "reason": reason})
        if self._conn is conn:
            self._conn = None

    def retire(self) -> None:
        """Stop using the current connection because a call on it is stuck (a hung QEMU),
        without closing it under that call: while one call is stuck, libvirt 9's client lets
        the replies to other calls on that connection wait for its next wake-up, the
        keepalive tick (measured: getInfo took 5.006 s at a 5 s interval, 1.002 s at 1 s).
        The next `get()` opens a fresh one; the old one stops delivering events and is
        closed when the stuck call lets go of it."""
        with self._lock:
            conn, self._conn = self._conn, None
            callbacks, self._callbacks = self._callbacks, []
            self._retired = conn is not None
        if conn is not None:
            log.info("libvirt connection retired: a call on it is stuck", extra={"uri": self.uri})
            threading.Thread(target=_release, args=(conn, callbacks), name="libvirt-retire",
                             daemon=True).start()

    def drop(self) -> None:
        with self._lock:
            self._drop_locked()

    async def close(self, seconds: float = 2.0) -> None:
        """Drop the connection off the event loop. A frozen daemon can hang even close(), and
        a worker stuck opening a connection holds the lock: give it `seconds`, then leave it."""
        try:
            await asyncio.wait_for(asyncio.to_thread(self.drop), seconds)
        except TimeoutError:
            log.warning("libvirt connection did not close in time", extra={"uri": self.uri})

    def _drop_locked(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(libvirt.libvirtError):
            conn.close()
