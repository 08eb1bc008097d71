"""The brakes between an alert and an action: de-duplication, cooldown, rate limits and
circuit breakers. Pure bookkeeping over an injectable clock; the engine asks them in order
and they never act themselves."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

Clock = Callable[[], float]
HOUR = 3600.0


class Bounded(Generic[K, V]):
    """A dict that forgets its oldest entries past `limit` (alerts seen, recoveries pending)."""

    def __init__(self, limit: int) -> None:
        self._items: OrderedDict[K, V] = OrderedDict()
        self._limit = limit

    def get(self, key: K) -> V | None:
        return self._items.get(key)

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._limit:
            self._items.popitem(last=False)

    def pop(self, key: K) -> V | None:
        return self._items.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)


class RateWindow:
    """At most `limit` events in any sliding hour."""

    def __init__(self, limit: int, clock: Clock = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._events: deque[float] = deque()

    def allows(self) -> bool:
        now = self._clock()
        while self._events and self._events[0] <= now - HOUR:
            self._events.popleft()
        return len(self._events) < self.limit

    def record(self) -> None:
        self._events.append(self._clock())


@dataclass
class Breaker:
    failures: int = 0
    opened_at: float | None = None


class CircuitBreakers:
    """Per target and action: after `threshold` failed attempts in a row the breaker opens and
    refuses that action on that target for `open_for`; then one attempt is let through (half
    open) and its result closes or reopens it."""

    def __init__(self, threshold: int, open_for: float, clock: Clock = time.monotonic) -> None:
        self.threshold = threshold
        self.open_for = open_for
        self._clock = clock
        self._breakers: dict[tuple[str, ...], Breaker] = {}

    def is_open(self, key: tuple[str, ...]) -> bool:
        breaker = self._breakers.get(key)
        if breaker is None or breaker.opened_at is None:
            return False
        return self._clock() - breaker.opened_at < self.open_for

    def succeeded(self, key: tuple[str, ...]) -> None:
        self._breakers.pop(key, None)

    def failed(self, key: tuple[str, ...]) -> bool:
        """Count a failure; True when this one opened (or reopened) the breaker."""
        breaker = self._breakers.setdefault(key, Breaker())
        breaker.failures += 1
        if breaker.failures >= self.threshold:
            breaker.opened_at = self._clock()
            return True
        return False

    def open_keys(self) -> list[tuple[str, ...]]:
        return [key for key in self._breakers if self.is_open(key)]


class Cooldowns:
    """After an attempt on a target, further attempts of that action wait `seconds`."""

    def __init__(self, seconds: float, clock: Clock = time.monotonic, limit: int = 100_000) -> None:
        self.seconds = seconds
        self._clock = clock
        self._last: Bounded[tuple[str, ...], float] = Bounded(limit)

    def remaining(self, key: tuple[str, ...]) -> float:
        last = self._last.get(key)
        return 0.0 if last is None else max(0.0, last + self.seconds - self._clock())

    def started(self, key: tuple[str, ...]) -> None:
        self._last.put(key, self._clock())
