"""The audit log: one JSON object per line for every request and every decision, appended
and fsynced before the request is answered or the action starts.

Writes are group-committed by one writer thread: every record queued while the previous
fsync ran goes out with the next one, so a burst of notifications costs a few fsyncs, not
one each, and the event loop never waits on the disk. The file is opened O_APPEND and never
truncated or rewritten; a file moved away (logrotate without `copytruncate`) is reopened
at the next write.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from typing import Any

from exporter.logs import iso_timestamp
from exporter.remediator.labels import shown


class AuditLog:
    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = self._open()
        self._pending: list[tuple[bytes, asyncio.Future[None], asyncio.AbstractEventLoop]] = []
        self._lock = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._writer, name="audit-writer", daemon=True)
        self._thread.start()

    def _open(self) -> int:
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, mode=0o750, exist_ok=True)
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)

    def write(self, event: str, **fields: Any) -> asyncio.Future[None]:
        """Queue one record; the future is done once it is on disk (OSError if it could not
        be written). Awaiting it more than once is fine: the engine's action waits for the
        decision record that the request handler waits for too."""
        cleaned = {k: _clean(v) for k, v in fields.items()}
        record = {"ts": iso_timestamp(time.time()), "event": event, **cleaned}
        line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._closed:
                done.set_exception(OSError("audit log closed"))
                return done
            self._pending.append((line.encode("utf-8", "backslashreplace"), done, loop))
            self._lock.notify()
        return done

    def _writer(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._closed:
                    self._lock.wait()
                batch, self._pending = self._pending, []
                if not batch and self._closed:
                    return
            error: OSError | None = None
            try:
                self._reopen_if_moved()
                os.write(self._fd, b"".join(line for line, _, _ in batch))
                os.fsync(self._fd)
            except OSError as exc:
                error = exc
            for _, done, loop in batch:
                loop.call_soon_threadsafe(_settle, done, error)

    def _reopen_if_moved(self) -> None:
        try:
            moved = os.stat(self.path).st_ino != os.fstat(self._fd).st_ino
        except FileNotFoundError:
            moved = True
        if moved:
            os.close(self._fd)
            self._fd = self._open()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify()
        self._thread.join(timeout=5)
        os.close(self._fd)


def _settle(done: asyncio.Future[None], error: OSError | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


AUDIT_FIELD_CHARS = 1000  # reasons quote label values, themselves cut at 200


def _clean(value: Any) -> Any:
    """Label values and reasons as they may appear in the log: long ones cut."""
    if isinstance(value, str):
        return shown(value, AUDIT_FIELD_CHARS)
    if isinstance(value, dict):
        return {shown(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value
