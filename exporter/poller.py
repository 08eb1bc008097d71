"""The framework's background source (fault exporter_health): what the source itself
refreshes slowly (SMART, zpool, iSCSI session counters, OVS, qemu-img checks) is read by a
`Poller` at the source's cadence, in a task of its own, never inside a scrape.

Every poller reports the same health series, so one alert covers every background command:
`kvm_poller_up{poller}` (the last round ran without a failed command), when its last round
succeeded, and failures by reason in one vocabulary: `exec_failed`, `timeout`,
`output_too_large`, `exit_N`, `garbage` (output that does not parse), `shutting_down`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence

from exporter.commands import CommandError, run_command
from exporter.metrics import Family, counter, gauge

log = logging.getLogger(__name__)


def first_wait(collector_timeout: float) -> float:
    """How long a scrape waits for a poller's first round: half the collector's budget."""
    return collector_timeout / 2


class Poller:
    """Runs `poll` now and then every `interval` seconds. Scrapes wait only for the first
    round, and that within a bound; then they read whatever the rounds stored."""

    def __init__(self, name: str, poll: Callable[[], Awaitable[None]], interval: float,
                 first_wait: float) -> None:
        self.name = name
        self._poll = poll
        self._interval = interval
        self._first_wait = first_wait
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._round: list[str] = []  # failures of the round in progress
        self._last_round: list[str] = []  # failures of the last finished round
        self.last_success = 0.0
        self.errors: Counter[str] = Counter()

    async def status(self, argv: Sequence[str], timeout: float) -> tuple[int, str]:
        """Exit status and output of a command; a command that could not run, hung or
        printed too much counts as a failure and raises CommandError."""
        try:
            return await run_command(argv, timeout)
        except CommandError as exc:
            self.failed(str(exc))
            raise

    async def output(self, argv: Sequence[str], timeout: float) -> str:
        """Like `status`, and a non-zero exit status is a failure (`exit_N`) too."""
        code, output = await self.status(argv, timeout)
        if code != 0:
            self.failed(f"exit_{code}")
            raise CommandError(f"exit_{code}")
        return output

    def failed(self, reason: str) -> None:
        """Count a failure of this round (`garbage` for output the poll could not parse)."""
        self._round.append(reason)
        self.errors[reason] += 1

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run_forever())

    async def first_round(self) -> None:
        """Start polling if it has not started, and wait for the first round to end, at most
        `first_wait` seconds: a hung first command must not cost the collector its scrape."""
        self.start()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._first_wait):
                await self.ready.wait()

    @property
    def up(self) -> bool:
        """No command failed in the last finished round, nor so far in this one: a long first
        round (qemu-img over many images) is not "down" until something fails."""
        return not self._round and not self._last_round

    async def _run_forever(self) -> None:
        while True:
            try:
                await self._poll()
            except Exception:
                log.exception("background poll failed", extra={"poller": self.name})
                self.failed("exception")
            self._last_round, self._round = self._round, []
            if not self._last_round:
                self.last_success = time.time()
            self.ready.set()
            await asyncio.sleep(self._interval)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def families(self) -> list[Family]:
        key = (self.name,)
        up = gauge("poller_up", "Whether every command of the background poller's last round, and "
                   "of the round in progress, ran without a failure (1) or not (0).", ["poller"])
        up.add(key, 1 if self.up else 0)
        success = gauge("poller_last_success_timestamp_seconds", "When a round of the background "
                        "poller last succeeded, as a Unix timestamp (0: never).", ["poller"])
        success.add(key, self.last_success)
        errors = counter("poller_errors", "Failed commands of the background poller by reason "
                         "(exec_failed, timeout, output_too_large, exit_N, garbage, ...).",
                         ["poller", "reason"])
        for reason, count in sorted(self.errors.items()):
            errors.add((self.name, reason), count)
        return [up, success, errors]
