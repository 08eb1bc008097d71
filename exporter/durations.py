"""Prometheus-style durations: `5s`, `1m30s`, `250ms`, `1h`."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")


def parse_duration(text: str) -> float:
    """Return seconds for a Prometheus duration; raise ValueError naming what is wrong."""
    if not text:
        raise ValueError("empty duration (expected e.g. 5s, 1m30s, 250ms)")
    pos = 0
    total = 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text):
        raise ValueError(f"not a duration: {text!r} (expected e.g. 5s, 1m30s, 250ms)")
    if total <= 0:
        raise ValueError(f"duration must be positive: {text!r}")
    return total
