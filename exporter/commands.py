"""External commands (smartctl, ovs-vsctl, ...): run with a timeout and killed when it
expires, and polled in the background on their own interval, never inside a scrape."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

log = logging.getLogger(__name__)


class CommandError(Exception):
    """`exec_failed` (could not start) or `timeout` (killed)."""


async def run_command(argv: Sequence[str], timeout: float) -> tuple[int, str]:
    """Exit status and stdout of `argv`; stderr is dropped, stdin is /dev/null."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, stdin=asyncio.subprocess.DEVNULL)
    except OSError as exc:
        raise CommandError("exec_failed") from exc
    try:
        async with asyncio.timeout(timeout):
            stdout, _ = await process.communicate()
    except TimeoutError:
        await _kill(process)
        raise CommandError("timeout") from None
    except asyncio.CancelledError:  # shutdown: never leave the command behind, stay cancelled
        await _kill(process)
        raise
    return process.returncode or 0, stdout.decode("utf-8", errors="replace")


async def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    await process.wait()


class Periodic:
    """Runs `poll` now and then every `interval` seconds in a task of its own; scrapes wait
    only for the first round (`ready`), then read whatever the poll stored."""

    def __init__(self, name: str, poll: Callable[[], Awaitable[None]], interval: float) -> None:
        self.name = name
        self._poll = poll
        self._interval = interval
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run_forever())

    async def first_round(self) -> None:
        """Start polling if it has not started, and wait until the first round is done."""
        self.start()
        await self.ready.wait()

    async def _run_forever(self) -> None:
        while True:
            try:
                await self._poll()
            except Exception:
                log.exception("background poll failed", extra={"poller": self.name})
            self.ready.set()
            await asyncio.sleep(self._interval)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
