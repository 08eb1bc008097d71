"""Scrape helpers: parse exposition text into {(name, labels): value}."""

from __future__ import annotations

import socket

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_samples(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def get(samples: Samples, name: str, /, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def series(samples: Samples, name: str, /, **labels: str) -> list[dict[str, str]]:
    """Label sets of every series of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return [dict(lbls) for n, lbls in samples if n == name and wanted <= lbls]


def free_port() -> int:
    """A free TCP port on loopback for a process the test starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
