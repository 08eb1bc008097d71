"""Alertmanager's webhook payload (version 4), parsed strictly: a payload that is not one
is refused as a whole (400), before anything acts on it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

MAX_BODY_BYTES = 4 << 20
MAX_ALERTS = 10_000


class PayloadError(ValueError):
    pass


@dataclass(frozen=True)
class Alert:
    status: str  # firing or resolved
    labels: dict[str, str]
    starts_at: float  # Unix seconds
    ends_at: float | None  # Unix seconds for a resolved alert
    fingerprint: str

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def key(self) -> tuple[str, float]:
        """One firing of one alert: the same in Alertmanager's repeats and in an HA pair's copies."""
        return self.fingerprint, self.starts_at


def _time(value: object, field: str) -> float | None:
    if not isinstance(value, str):
        raise PayloadError(f"{field} is not a timestamp")
    if value.startswith("0001-01-01"):  # Go's zero time: not set
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise PayloadError(f"{field} {value[:40]!r} is not an RFC 3339 time") from exc


def _string_map(value: object, field: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise PayloadError(f"{field} must map strings to strings")
    return value


def parse_alert(raw: object, index: int) -> Alert:
    if not isinstance(raw, dict):
        raise PayloadError(f"alerts[{index}] is not an object")
    status = raw.get("status")
    if status not in ("firing", "resolved"):
        raise PayloadError(f"alerts[{index}].status must be firing or resolved")
    labels = _string_map(raw.get("labels"), f"alerts[{index}].labels")
    starts_at = _time(raw.get("startsAt"), f"alerts[{index}].startsAt")
    if starts_at is None:
        raise PayloadError(f"alerts[{index}].startsAt is not set")
    ends_at = _time(raw.get("endsAt", "0001-01-01T00:00:00Z"), f"alerts[{index}].endsAt")
    fingerprint = raw.get("fingerprint")
    if not isinstance(fingerprint, str) or not fingerprint:
        raise PayloadError(f"alerts[{index}].fingerprint is missing")
    return Alert(status, labels, starts_at, ends_at if status == "resolved" else None, fingerprint)


def parse_payload(body: bytes) -> list[Alert]:
    """The alerts of one notification; PayloadError says what is wrong with it."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise PayloadError("not a JSON object")
    if document.get("version") != "4":
        raise PayloadError(f'webhook payload version {str(document.get("version"))[:20]!r}, expected "4"')
    alerts = document.get("alerts")
    if not isinstance(alerts, list):
        raise PayloadError("alerts must be a list")
    if len(alerts) > MAX_ALERTS:
        raise PayloadError(f"{len(alerts)} alerts in one notification, at most {MAX_ALERTS}")
    return [parse_alert(raw, index) for index, raw in enumerate(alerts)]
