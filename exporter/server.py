"""Serving the app the way a long-lived daemon must: bounded connections, bounded shutdown.

- Connections are capped (`--web.max-connections`, and never more than half the file
  descriptors the process may open): when the cap is reached, the connection that has been
  quiet longest and is not in a request is closed to admit the new one, so a flood of idle
  sockets cannot lock Prometheus out. A connection that sends no request within
  `FIRST_REQUEST_SECONDS` is closed; idle keep-alive connections after `IDLE_SECONDS`.
- The soft file-descriptor limit is raised to the hard limit at start (Go does this by
  itself; Python does not).
- SIGTERM/SIGINT stop the exporter within `SHUTDOWN_SECONDS` whatever is stuck: background
  commands are killed with their children, cleanup gets a bounded time, and a watchdog ends
  the process if anything still holds it.
- Repeated event-loop errors (`socket.accept() out of system resource`) are logged at most
  once a minute each, with a count.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import signal
import ssl
import threading
import time
from collections import OrderedDict
from typing import Any

from aiohttp import web

from exporter.commands import stop_all_commands
from exporter.http import BUSY_TRANSPORTS
from exporter.threads import DaemonThreadPool, default_workers

log = logging.getLogger("exporter")

FIRST_REQUEST_SECONDS = 10.0
IDLE_SECONDS = 60.0
SHUTDOWN_SECONDS = 5.0
WATCHDOG_SECONDS = SHUTDOWN_SECONDS + 3.0
REPEATED_LOG_SECONDS = 60.0


def raise_open_files_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open files limit", extra={"soft": soft, "hard": hard,
                                                                     "err": str(exc)})
    return soft


def connection_cap(requested: int, open_files: int) -> int:
    return max(1, min(requested, open_files // 2))


class _Guarded(asyncio.Protocol):
    """Forwards to aiohttp's protocol; tells the guard about arrivals, activity and ends."""

    def __init__(self, inner: Any, guard: ConnectionGuard) -> None:
        self.inner = inner
        self.guard = guard
        self.transport: asyncio.BaseTransport | None = None
        self.seen_data = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.guard.admit(self)
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.seen_data = True
        self.guard.touch(self)
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        result: bool | None = self.inner.eof_received()
        return result

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.forget(self)
        self.inner.connection_lost(exc)


class ConnectionGuard:
    """A protocol factory around aiohttp's that caps the number of open connections."""

    def __init__(self, factory: Any, cap: int, busy: set[asyncio.BaseTransport]) -> None:
        self._factory = factory
        self.cap = cap
        self._busy = busy
        self._open: OrderedDict[_Guarded, None] = OrderedDict()  # least recently active first

    def __call__(self) -> _Guarded:
        return _Guarded(self._factory(), self)

    def admit(self, connection: _Guarded) -> None:
        if len(self._open) >= self.cap:
            victim = next((c for c in self._open if c.transport not in self._busy), None)
            if victim is None:  # every connection is in a request: the newcomer waits its turn
                self._close(connection)
                return
            self._close(victim)
            self._open.pop(victim, None)
        self._open[connection] = None
        asyncio.get_running_loop().call_later(FIRST_REQUEST_SECONDS, self._first_request_due, connection)

    def touch(self, connection: _Guarded) -> None:
        if connection in self._open:
            self._open.move_to_end(connection)

    def forget(self, connection: _Guarded) -> None:
        self._open.pop(connection, None)

    def _first_request_due(self, connection: _Guarded) -> None:
        if connection in self._open and not connection.seen_data:
            self._close(connection)

    def _close(self, connection: _Guarded) -> None:
        if connection.transport is not None:
            connection.transport.abort()  # type: ignore[attr-defined]


class RepeatedErrorFilter:
    """An event-loop exception handler that logs each distinct message at most once per
    `REPEATED_LOG_SECONDS`, saying how often it was suppressed in between."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, int]] = {}

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message", "event loop error"))
        now = time.monotonic()
        last, suppressed = self._last.get(message, (-REPEATED_LOG_SECONDS, 0))
        if now - last < REPEATED_LOG_SECONDS:
            self._last[message] = (last, suppressed + 1)
            return
        self._last[message] = (now, 0)
        exc = context.get("exception")
        log.error(message, extra={"err": repr(exc) if exc else "", "suppressed": suppressed})


def _watchdog() -> None:
    """Ends the process if the orderly shutdown is itself stuck."""
    time.sleep(WATCHDOG_SECONDS)
    log.error("shutdown did not finish in time; exiting", extra={"seconds": WATCHDOG_SECONDS})
    stop_all_commands()
    logging.shutdown()
    os._exit(1)


async def serve(app: web.Application, host: str | None, port: int, ssl_context: ssl.SSLContext | None,
                max_connections: int) -> None:
    loop = asyncio.get_running_loop()
    loop.set_default_executor(DaemonThreadPool(default_workers(), "worker"))
    loop.set_exception_handler(RepeatedErrorFilter())
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=IDLE_SECONDS,
                           handler_cancellation=True, shutdown_timeout=1.0)
    await runner.setup()
    try:
        guard = ConnectionGuard(runner.server, connection_cap(max_connections, raise_open_files_limit()),
                                app[BUSY_TRANSPORTS])
        server = await loop.create_server(guard, host, port, ssl=ssl_context, backlog=128,
                                          reuse_address=True)
        log.info("listening", extra={"address": f"{host or ''}:{port}", "max_connections": guard.cap})
        await stop.wait()
        log.info("shutting down")
        threading.Thread(target=_watchdog, name="shutdown-watchdog", daemon=True).start()
        stop_all_commands()
        server.close()
    finally:
        try:
            async with asyncio.timeout(SHUTDOWN_SECONDS - 1):
                await runner.cleanup()
        except TimeoutError:
            log.warning("cleanup did not finish in time; leaving it", extra={"seconds": SHUTDOWN_SECONDS - 1})
