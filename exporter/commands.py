"""External commands (smartctl, zpool, iscsiadm, ovs-vsctl, qemu-img): run in a session of
their own with a timeout that kills the whole process group, output capped. Collectors run
them from a background `exporter.poller.Poller`, never inside a scrape."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


MAX_OUTPUT_BYTES = 32 << 20  # a `zfs list` of 100k snapshots is ~10 MiB
KILL_WAIT_SECONDS = 2.0  # after SIGKILL to the group: a process in D state may not die at once
PARSE_INLINE_BYTES = 64 << 10

_running: set[int] = set()  # process group ids of commands still running
_closing = False


class CommandError(Exception):
    """`exec_failed` (could not start), `timeout` (killed), `output_too_large` (killed) or
    `shutting_down` (not started: the exporter is stopping)."""


async def run_command(argv: Sequence[str], timeout: float) -> tuple[int, str]:
    """Exit status and stdout of `argv`; stderr is dropped, stdin is /dev/null.

    The command runs in a session of its own, and a timeout kills the whole process group:
    a wrapper script or a `sudo` grandchild would otherwise keep the pipe open and the wait
    would never end.
    """
    if _closing:
        raise CommandError("shutting_down")
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            stdin=asyncio.subprocess.DEVNULL, start_new_session=True)
    except OSError as exc:
        raise CommandError("exec_failed") from exc
    _running.add(process.pid)
    try:
        async with asyncio.timeout(timeout):
            stdout = await _read_bounded(process)
            await process.wait()
    except TimeoutError:
        raise CommandError("timeout") from None
    finally:  # also on cancellation at shutdown: never leave the command behind
        await _kill_group(process)
    return process.returncode or 0, stdout.decode("utf-8", errors="replace")


async def _read_bounded(process: asyncio.subprocess.Process) -> bytes:
    assert process.stdout is not None
    chunks: list[bytes] = []
    size = 0
    while chunk := await process.stdout.read(1 << 16):
        size += len(chunk)
        if size > MAX_OUTPUT_BYTES:
            raise CommandError("output_too_large")
        chunks.append(chunk)
    return b"".join(chunks)


async def _kill_group(process: asyncio.subprocess.Process) -> None:
    """Kill what is left of the command's process group and reap it, within a bound."""
    _signal_group(process.pid)
    _running.discard(process.pid)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(KILL_WAIT_SECONDS):
            await process.wait()  # asyncio also waits for the pipes to close here
    # A child that left the group (setsid) may still hold the pipe: stop reading it.
    transport = getattr(process, "_transport", None)
    if transport is not None:
        transport.close()


def _signal_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def stop_all_commands() -> None:
    """At shutdown: start no new command and kill every running one, children included."""
    global _closing
    _closing = True
    for pgid in list(_running):
        _signal_group(pgid)


async def parse_off_loop(parse: Callable[[str], T], output: str) -> T:
    """Parse a command's output; a large one in a worker thread, off the event loop."""
    if len(output) <= PARSE_INLINE_BYTES:
        return parse(output)
    return await asyncio.to_thread(parse, output)
