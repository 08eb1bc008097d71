#!/usr/bin/env python3
"""Time the exposition: the exporter's own renderer against client_python's `generate_latest`
(text 0.0.4 and OpenMetrics) on the same families, built from N replayed domains.

    .venv/bin/python benchmarks/render_bench.py [--domains 1000] [--repeat 7]

Prints, per writer, the median milliseconds to render, the output size and the sample count.
Both writers get the same families; client_python's objects are built outside the timing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

sys.path.insert(0, str(Path(__file__).resolve().parent))

from replay_server import HOST, ReplaySource

from exporter.collectors.libvirt.families import build_families
from exporter.collectors.libvirt.plans import StatsPlans
from exporter.libvirt.snapshot import LibvirtSnapshot
from exporter.metrics import Family, render


def client_python_families(families: list[Family]) -> list[Metric]:
    metrics: list[Metric] = []
    for family in families:
        kind = CounterMetricFamily if family.kind == "counter" else GaugeMetricFamily
        metric = kind(family.name, family.doc, labels=list(family.labelnames))
        for labels, value in family.rows:
            metric.add_metric(list(labels), value)
        metrics.append(metric)
    return metrics


class Replay:
    def __init__(self, metrics: list[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return iter(self._metrics)


def median_ms(write: Callable[[], Any], repeat: int) -> tuple[float, int]:
    times, size = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        output = write()
        times.append((time.perf_counter() - start) * 1000)
        size = len(output)
    return statistics.median(times), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--domains", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    snapshot = LibvirtSnapshot(up=True, host=HOST, domains=ReplaySource(args.domains).domains)
    families = build_families(snapshot)
    plans = StatsPlans()  # kept across scrapes, as the collector keeps them
    samples = sum(len(f.rows) for f in families)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Replay(client_python_families(families)))  # type: ignore[arg-type]
    writers: dict[str, Callable[[], Any]] = {
        "kvm-exporter text, render only": lambda: render(families).encode(),
        "kvm-exporter text": lambda: render(build_families(snapshot, plans)).encode(),
        "kvm-exporter openmetrics":
            lambda: render(build_families(snapshot, plans), openmetrics=True).encode(),
        "client_python generate_latest": lambda: generate_latest(registry),
        "client_python openmetrics": lambda: generate_openmetrics(registry),
    }
    print(f"{args.domains} replayed domains, {samples} samples (kvm-exporter's times but the "
          "first include building the families; client_python's do not)")
    print(f"{'writer':32} {'median ms':>10} {'bytes':>10}")
    for name, write in writers.items():
        ms, size = median_ms(write, args.repeat)
        print(f"{name:32} {ms:10.1f} {size:10d}")


if __name__ == "__main__":
    main()
