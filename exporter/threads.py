"""A thread pool whose threads never hold the process at exit.

`ThreadPoolExecutor` joins its workers when the interpreter exits, so one call that never
returns (a wedged libvirtd, `virConnectOpen` on a frozen socket, a read stuck in the
kernel) keeps a stopped exporter alive for good. These workers are daemon threads and
`shutdown()` does not wait for them: a stuck call is abandoned, never waited for.
"""

from __future__ import annotations

import concurrent.futures
import os
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Work = tuple["concurrent.futures.Future[Any]", Callable[..., Any], tuple[Any, ...], dict[str, Any]]


def default_workers() -> int:
    return min(32, (os.cpu_count() or 1) + 4)  # as ThreadPoolExecutor's default


class DaemonThreadPool(concurrent.futures.ThreadPoolExecutor):
    """Only the type is ThreadPoolExecutor's (asyncio's default executor must be one); the
    workers, `submit` and `shutdown` are this class's own."""

    def __init__(self, workers: int, name: str) -> None:
        super().__init__(max_workers=workers, thread_name_prefix=name)
        self._workers = workers
        self._name = name
        self._queue: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._workers_started: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._queue.put((future, fn, args, kwargs))
            if not self._idle.acquire(timeout=0) and len(self._workers_started) < self._workers:
                name = f"{self._name}-{len(self._workers_started)}"
                thread = threading.Thread(target=self._work, name=name, daemon=True)
                thread.start()
                self._workers_started.append(thread)
        return future

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            future, fn, args, kwargs = item
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            del item, future
            self._idle.release()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking work; idle workers end, busy ones end when their call returns.
        Never waits: that is the point of this pool."""
        with self._lock:
            self._closed = True
            for _ in self._workers_started:
                self._queue.put(None)
