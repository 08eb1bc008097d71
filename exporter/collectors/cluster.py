"""What the cluster-layer collectors (pacemaker, corosync, drbd; faults cluster_quorum,
ha_resource, replication_lag) share: whether the software is installed at all (a host
without it runs nothing), and the state of their background commands in one vocabulary
(`kvm_<name>_up`, `..._command_error`, when the last answer came), so every cluster source
is served with the age of its last answer."""

from __future__ import annotations

import asyncio
import shutil
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from exporter.commands import CommandError
from exporter.metrics import Family, gauge
from exporter.poller import Poller


def installed(program: str) -> bool:
    """`program` (a name looked up in PATH, or a path) exists and is executable."""
    return shutil.which(program) is not None


@dataclass
class Answers:
    """The last parsed answer of each command, and why the latest run of a command failed."""

    errors: dict[str, str] = field(default_factory=dict)  # command -> reason
    last_success: float = 0.0  # when the main command last answered

    def failed(self, command: str, exc: Exception, poller: Poller) -> None:
        if isinstance(exc, CommandError):
            self.errors[command] = str(exc)
        else:  # the output did not parse
            poller.failed("garbage")
            self.errors[command] = "garbage"

    def succeeded(self, command: str, main: bool = True) -> None:
        self.errors.pop(command, None)
        if main:
            self.last_success = time.time()


def status_families(name: str, what: str, main: str, answers: Answers, poller: Poller) -> list[Family]:
    up = gauge(f"{name}_up", f"Whether the last {what} answered (1) or not (0); the other {name} series "
               "keep the last answer.")
    up.add((), 0 if main in answers.errors else 1)
    error = gauge(f"{name}_command_error", f"A {name} command that failed in its last run and why "
                  "(exec_failed, timeout, output_too_large, exit_N, garbage).", ["command", "reason"])
    for command, reason in sorted(answers.errors.items()):
        error.add((command, reason), 1)
    success = gauge(f"{name}_last_success_timestamp_seconds", f"When the {what} last answered "
                    "(0: never); the age of the series served.")
    success.add((), answers.last_success)
    return [up, error, success, *poller.families()]


def present_family(name: str, what: str, present: bool) -> Family:
    family = gauge(f"{name}_present", f"Whether {what} is installed on this host (1) or not (0: "
                   "nothing runs and no other series of the collector is served).")
    family.add((), 1 if present else 0)
    return family


def flag(value: bool | None) -> float:
    return 1.0 if value else 0.0


PRESENCE_TTL = 60.0  # how long "installed or not" is trusted: software is rarely added


class ClusterCollector(ABC):
    """A collector of the cluster layer: whether its software is installed is checked off
    the event loop at most every PRESENCE_TTL seconds; without it the collector says so and
    its poller never starts; with it, a scrape waits only for the poller's first round and
    serves the last answers."""

    name: str
    software: str  # what `kvm_<name>_present` says is installed, e.g. "Pacemaker (crm_mon)"
    background: Poller

    def __init__(self) -> None:
        self._present: bool | None = None
        self._checked = 0.0

    @abstractmethod
    def installed(self) -> bool:
        """Whether the software is on this host (blocking: stats files)."""

    @abstractmethod
    def answer_families(self) -> list[Family]:
        """The series of the last answers, `status_families` included."""

    async def present(self) -> bool:
        if self._present is None or time.monotonic() - self._checked > PRESENCE_TTL:
            self._present = await asyncio.to_thread(self.installed)
            self._checked = time.monotonic()
        return self._present

    async def collect(self) -> list[Family]:
        present = await self.present()
        families = [present_family(self.name, self.software, present)]
        if not present:
            return families
        await self.background.first_round()
        return [*families, *self.answer_families()]

    async def close(self) -> None:
        await self.background.stop()
