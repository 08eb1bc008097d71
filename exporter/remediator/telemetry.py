"""The remediator's own metrics. A few dozen series, so client_python's registry renders
them (the exporter's hand-written exposition exists for 100k-series scrapes)."""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from exporter import __version__

# Recovery within minutes is the aim: buckets resolve 1-15 minutes finely, then hours.
RECOVERY_BUCKETS = (30, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1800, 3600, 7200, 21600, 86400)
ACTION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class _Breakers(Collector):
    def __init__(self, open_keys: Callable[[], list[tuple[str, ...]]]) -> None:
        self._open_keys = open_keys

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "kvm_remediator_circuit_breaker_open",
            "1 for each target and action whose circuit breaker is open (the action is "
            "refused there until it half-opens).",
            labels=["instance", "action", "target"],
        )
        for instance, action, target in self._open_keys():
            family.add_metric([instance, action, target], 1)
        yield family


class Telemetry:
    def __init__(self, mode: str) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        Gauge(
            "kvm_remediator_build_info",
            "A metric with a constant 1 labelled by version, Python and mode.",
            ["version", "python_version", "mode"],
            registry=r,
        ).labels(__version__, platform.python_version(), mode).set(1)
        self.requests = Counter(
            "kvm_remediator_requests",
            "Webhook requests at /alerts by outcome (accepted, bad_payload, unauthorized, audit_failed).",
            ["outcome"],
            registry=r,
        )
        self.alerts = Counter(
            "kvm_remediator_alerts_received",
            "Alerts in accepted notifications, by status.",
            ["status"],
            registry=r,
        )
        self.ignored = Counter(
            "kvm_remediator_alerts_ignored",
            "Firing alerts that led to no decision: other_instance, no_playbook, duplicate.",
            ["reason"],
            registry=r,
        )
        self.actions = Counter(
            "kvm_remediator_actions",
            "Decisions on firing alerts by action and result: "
            "succeeded, failed, refused (a precondition does not hold), not_needed, dry_run, "
            "rate_limited, cooldown, circuit_open.",
            ["action", "result"],
            registry=r,
        )
        self.action_seconds = Histogram(
            "kvm_remediator_action_duration_seconds",
            "Time an action ran, checks included.",
            ["action"],
            buckets=ACTION_BUCKETS,
            registry=r,
        )
        self.in_progress = Gauge(
            "kvm_remediator_actions_in_progress", "Actions running or waiting for a slot.", registry=r
        )
        self.breakers_opened = Counter(
            "kvm_remediator_circuit_breaker_openings",
            "Circuit breakers that opened, by action.",
            ["action"],
            registry=r,
        )
        self.recovery = Histogram(
            "kvm_remediator_time_to_recover_seconds",
            "Alerts from firing to recovered "
            "(resolved, or the action succeeded for event alerts), by whether an action "
            "of this remediator healed them.",
            ["remediated"],
            buckets=RECOVERY_BUCKETS,
            registry=r,
        )
        self.self_heal = Gauge(
            "kvm_remediator_self_heal_ratio",
            "Recovered alerts healed by an action, as a "
            "share of all recovered alerts since the start (NaN before the first).",
            registry=r,
        )
        for result in ("true", "false"):
            self.recovery.labels(result)
        self._healed = 0
        self._recovered = 0
        self.self_heal.set(float("nan"))

    def watch_breakers(self, open_keys: Callable[[], list[tuple[str, ...]]]) -> None:
        self.registry.register(_Breakers(open_keys))

    def recovered(self, seconds: float, remediated: bool) -> None:
        self.recovery.labels("true" if remediated else "false").observe(max(0.0, seconds))
        self._recovered += 1
        self._healed += remediated
        self.self_heal.set(self._healed / self._recovered)
