"""From alert to action: who owns the alert, which playbook, the brakes, then the action
with its timeout, with every decision audited and counted.

`handle` decides synchronously for each alert of a notification (so 200 copies of one
alert arriving at once find the first one already in progress) and returns once the
decisions are on disk; the actions run in background tasks, at most `concurrency` at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from exporter.remediator.actions import (
    DRY_RUN,
    FAILED,
    NOT_NEEDED,
    REFUSED,
    SUCCEEDED,
    Context,
    Outcome,
    iscsi,
    links,
    programs,
    virt,
)
from exporter.remediator.audit import AuditLog
from exporter.remediator.config import OPTIONAL_LABELS, Playbook, RemediatorConfig
from exporter.remediator.labels import LabelError, shown, validated
from exporter.remediator.safety import Bounded, CircuitBreakers, Clock, Cooldowns, RateWindow
from exporter.remediator.telemetry import Telemetry
from exporter.remediator.webhook import Alert

log = logging.getLogger("remediator")

RATE_LIMITED, COOLDOWN, CIRCUIT_OPEN = "rate_limited", "cooldown", "circuit_open"
IN_PROGRESS = "in_progress"
REMEMBERED_ALERTS = 100_000
RECENT_ACTIONS = 50


def host_of(instance: str) -> str:
    """The host part of an `instance` label: hv1 of hv1:9978, ::1 of [::1]:9978."""
    if instance.startswith("["):
        return instance[1:].partition("]")[0]
    host, sep, port = instance.rpartition(":")
    return host if sep and port.isdigit() and ":" not in host else instance


@dataclass(frozen=True)
class Job:
    alert: Alert
    playbook: Playbook
    labels: dict[str, str]
    target: tuple[str, str, str]  # instance, action, what it acts on


class Engine:
    def __init__(
        self,
        config: RemediatorConfig,
        ctx: Context,
        instances: tuple[str, ...],
        audit: AuditLog,
        telemetry: Telemetry,
        clock: Clock = time.monotonic,
    ) -> None:
        self.config = config
        self.ctx = ctx
        self.instances = frozenset(instances)
        self.audit = audit
        self.telemetry = telemetry
        limits = config.limits
        self.cooldowns = Cooldowns(limits.cooldown, clock)
        self.breakers = CircuitBreakers(limits.breaker_failures, limits.breaker_open_for, clock)
        self.global_rate = RateWindow(limits.global_actions_per_hour, clock)
        self.host_rates: dict[str, RateWindow] = {}
        self._clock = clock
        self._slots = asyncio.Semaphore(limits.concurrency)
        self._handled: Bounded[tuple[str, float], str] = Bounded(REMEMBERED_ALERTS)  # key -> result
        self._healed: Bounded[tuple[str, float], bool] = Bounded(REMEMBERED_ALERTS)
        self._recovered: Bounded[tuple[str, float], bool] = Bounded(REMEMBERED_ALERTS)
        self._busy_targets: set[tuple[str, str, str]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT_ACTIONS)
        telemetry.watch_breakers(self.breakers.open_keys)

    def owns(self, labels: dict[str, str]) -> bool:
        instance = labels.get("instance", "")
        return bool(instance) and (instance in self.instances or host_of(instance) in self.instances)

    async def handle(self, alerts: list[Alert], request: dict[str, Any]) -> None:
        writes = []
        for alert in alerts:
            self.telemetry.alerts.labels(alert.status).inc()
            record, job = self._decide(alert)
            writes.append(self.audit.write("decision", **request, **record))
            if job is not None:
                self._start(job, writes[-1])
        await asyncio.gather(*writes)

    def _decide(self, alert: Alert) -> tuple[dict[str, Any], Job | None]:
        record: dict[str, Any] = {
            "alert": alert.name,
            "status": alert.status,
            "fingerprint": alert.fingerprint,
            "instance": alert.labels.get("instance", ""),
            "mode": self.mode,
        }
        if not self.owns(alert.labels):
            return self._ignored(record, "other_instance"), None
        if alert.status == "resolved":
            return self._resolved(alert, record), None
        playbook = self.config.playbook_for(alert.labels)
        if playbook is None:
            return self._ignored(record, "no_playbook"), None
        record.update(playbook=playbook.name, action=playbook.action)
        if self._handled.get(alert.key) is not None:
            return self._ignored(record, "duplicate"), None
        try:
            labels = validated(alert.labels, playbook.labels_used)
            labels.update(
                validated(
                    alert.labels,
                    tuple(n for n in OPTIONAL_LABELS.get(playbook.action, ()) if n in alert.labels),
                )
            )
        except LabelError as exc:
            return self._refused(record, playbook, REFUSED, str(exc)), None
        target = (alert.labels["instance"], playbook.action, self._target_name(playbook, labels))
        record["target"] = target[2]
        brake = self._brake(target)
        if brake is not None:
            return self._refused(record, playbook, *brake), None
        if target in self._busy_targets:
            return self._ignored(record, "duplicate"), None
        self._handled.put(alert.key, IN_PROGRESS)
        self._busy_targets.add(target)
        self.global_rate.record()
        self._host_rate(target[0]).record()
        record["result"] = "accepted"
        return record, Job(alert, playbook, labels, target)

    @property
    def mode(self) -> str:
        return "dry-run" if self.ctx.dry_run else "enforce"

    @staticmethod
    def _target_name(playbook: Playbook, labels: dict[str, str]) -> str:
        used = playbook.labels_used
        return "/".join(labels[name] for name in used) if used else playbook.name

    def _host_rate(self, instance: str) -> RateWindow:
        host = host_of(instance)
        if host not in self.host_rates:
            self.host_rates[host] = RateWindow(self.config.limits.host_actions_per_hour, self._clock)
        return self.host_rates[host]

    def _brake(self, target: tuple[str, str, str]) -> tuple[str, str] | None:
        if self.breakers.is_open(target):
            return CIRCUIT_OPEN, "the circuit breaker of this target and action is open"
        wait = self.cooldowns.remaining(target)
        if wait > 0:
            return (
                COOLDOWN,
                f"acted on this target {self.config.limits.cooldown - wait:.0f}s ago, cooling down",
            )
        if not self._host_rate(target[0]).allows():
            return (
                RATE_LIMITED,
                f"host limit of {self.config.limits.host_actions_per_hour} actions per hour reached",
            )
        if not self.global_rate.allows():
            return (
                RATE_LIMITED,
                f"global limit of {self.config.limits.global_actions_per_hour} actions per hour reached",
            )
        if len(self._tasks) >= self.config.limits.concurrency + self.config.limits.queue:
            return RATE_LIMITED, f"{len(self._tasks)} actions running or queued: queue full"
        return None

    def _ignored(self, record: dict[str, Any], reason: str) -> dict[str, Any]:
        self.telemetry.ignored.labels(reason).inc()
        record["result"] = "ignored"
        record["reason"] = reason
        return record

    def _refused(
        self, record: dict[str, Any], playbook: Playbook, result: str, reason: str
    ) -> dict[str, Any]:
        self.telemetry.actions.labels(playbook.action, result).inc()
        record["result"] = result
        record["reason"] = reason
        log.warning(
            "not acting",
            extra={
                "alert": record["alert"],
                "action": playbook.action,
                "result": result,
                "reason": shown(reason),
            },
        )
        return record

    def _resolved(self, alert: Alert, record: dict[str, Any]) -> dict[str, Any]:
        if self._recovered.get(alert.key) is not None:
            record["result"] = "resolved_again"
            return record
        self._recovered.put(alert.key, True)
        ends_at = alert.ends_at if alert.ends_at is not None else time.time()
        remediated = self._healed.get(alert.key) is not None
        self.telemetry.recovered(ends_at - alert.starts_at, remediated)
        record.update(
            result="recovered", time_to_recover=round(ends_at - alert.starts_at, 3), remediated=remediated
        )
        return record

    def _start(self, job: Job, decided: Any) -> None:
        task = asyncio.create_task(self._run(job, decided))
        self._tasks.add(task)
        self.telemetry.in_progress.inc()
        task.add_done_callback(self._tasks.discard)

    async def _run(self, job: Job, decided: Any) -> None:
        started = time.monotonic()
        try:
            try:
                await decided  # the decision is on disk before anything is done
            except OSError as exc:
                self._handled.pop(job.alert.key)
                log.error("not acting: the decision could not be audited", extra={"err": str(exc)})
                return
            outcome = await self._attempt(job)
        finally:
            self.telemetry.in_progress.dec()
            self._busy_targets.discard(job.target)
        await self._finish(job, outcome, time.monotonic() - started)

    async def _attempt(self, job: Job) -> Outcome:
        """The action in a concurrency slot, under its timeout; its own bug is a failure."""
        timeout = job.playbook.timeout or self.config.limits.action_timeout
        try:
            async with self._slots, asyncio.timeout(timeout):
                return await self._execute(job, timeout)
        except TimeoutError:
            return Outcome(FAILED, f"timed out after {timeout:g}s")
        except Exception as exc:  # an action's bug must not end the remediator
            log.exception("action crashed", extra={"action": job.playbook.action})
            return Outcome(FAILED, f"internal error: {exc!r}")

    async def _execute(self, job: Job, timeout: float) -> Outcome:
        book, labels, ctx = job.playbook, job.labels, self.ctx
        if book.action == "start_domain":
            return await asyncio.to_thread(virt.start_domain, ctx, labels["domain"])
        if book.action == "resume_domain":
            return await asyncio.to_thread(virt.resume_domain, ctx, labels["domain"], book.min_free_bytes)
        if book.action == "start_network":
            return await asyncio.to_thread(virt.start_network, ctx, labels["network"])
        if book.action == "start_pool":
            return await asyncio.to_thread(virt.start_pool, ctx, labels["pool"])
        if book.action == "link_up":
            return await asyncio.to_thread(links.link_up, ctx, labels[book.link_label])
        if book.action == "iscsi_login":
            return await iscsi.iscsi_login(ctx, labels["target"], labels["portal"], labels.get("iface", ""))
        if book.action == "ansible_playbook":
            return await programs.run_playbook(ctx, book.playbook, book.extra_vars, labels, timeout)
        return await programs.run_program(ctx, book.command, labels, timeout)

    async def _finish(self, job: Job, outcome: Outcome, seconds: float) -> None:
        action, key = job.playbook.action, job.alert.key
        self.telemetry.actions.labels(action, outcome.result).inc()
        self.telemetry.action_seconds.labels(action).observe(seconds)
        record: dict[str, Any] = {
            "alert": job.alert.name,
            "fingerprint": job.alert.fingerprint,
            "instance": job.target[0],
            "playbook": job.playbook.name,
            "action": action,
            "target": job.target[2],
            "mode": self.mode,
            "result": outcome.result,
            "detail": outcome.detail,
            "duration": round(seconds, 3),
        }
        if outcome.result in (SUCCEEDED, FAILED, DRY_RUN):  # it acted (or would have): cool down
            self.cooldowns.started(job.target)
        if outcome.result in (FAILED, REFUSED):
            self._handled.pop(key)  # a repeat of the alert may try again, after the cooldown
        else:
            self._handled.put(key, outcome.result)
        if outcome.result == FAILED:
            if self.breakers.failed(job.target):
                self.telemetry.breakers_opened.labels(action).inc()
                record["circuit"] = "opened"
                log.error(
                    "circuit breaker opened",
                    extra={
                        "action": action,
                        "target": shown(job.target[2]),
                        "failures": self.breakers.threshold,
                    },
                )
        elif outcome.result in (SUCCEEDED, NOT_NEEDED):
            self.breakers.succeeded(job.target)
        if outcome.result == SUCCEEDED:
            self._healed.put(key, True)
            if job.playbook.recovered == "action" and self._recovered.get(key) is None:
                self._recovered.put(key, True)
                self.telemetry.recovered(time.time() - job.alert.starts_at, True)
                record["time_to_recover"] = round(time.time() - job.alert.starts_at, 3)
        level = logging.WARNING if outcome.result == FAILED else logging.INFO
        log.log(
            level,
            "action " + outcome.result,
            extra={
                "action": action,
                "target": shown(job.target[2]),
                "detail": shown(outcome.detail),
                "mode": self.mode,
            },
        )
        self.recent.append({**record, "at": time.time()})
        try:
            await self.audit.write("action", **record)
        except OSError as exc:
            log.error("cannot write the audit log", extra={"err": str(exc)})

    async def drain(self, seconds: float) -> None:
        """Wait for running actions at shutdown, within a bound."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=seconds)
