#!/usr/bin/env python3
"""Fuzz every parser of the exporter from its real captured inputs (tests/support/fuzz_targets.py) and
print, per parser: examples run, exceptions other than ValueError, the slowest example.

    .venv/bin/python benchmarks/fuzz_parsers.py                  # 10,000 examples per parser
    .venv/bin/python benchmarks/fuzz_parsers.py --examples 50000 --only zfs

Exits 1 if any parser raised anything but ValueError or took over --slow seconds on one input.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from hypothesis import HealthCheck, Phase, given, settings
from support.fuzz_targets import TARGETS, Target, inputs, run_one, seed_texts


def fuzz(target: Target, examples: int) -> tuple[int, float, str]:
    """(examples run, slowest example in seconds, first failure or "")."""
    seeds = seed_texts(target)
    runs, slowest = 0, 0.0
    failure = ""

    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(inputs(seeds))
    def one(text: str) -> None:
        nonlocal runs, slowest
        start = time.perf_counter()
        run_one(target, text)
        slowest = max(slowest, time.perf_counter() - start)
        runs += 1

    try:
        one()
    except Exception as exc:
        failure = describe(exc)
    return runs, slowest, failure


def describe(exc: BaseException) -> str:
    """`TypeError at ovs.py:107: unhashable type: 'list'` (the first error of a group)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" at {Path(frame.filename).name}:{frame.lineno}" if frame else ""
    return f"{type(exc).__name__}{where}: {str(exc).splitlines()[0] if str(exc) else ''}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--only", default="", help="run the targets whose name contains this")
    parser.add_argument("--slow", type=float, default=1.0, help="seconds one input may take")
    args = parser.parse_args()
    bad = 0
    print(f"{'parser':32} {'examples':>9} {'seconds':>8} {'slowest ms':>11}  result")
    for target in TARGETS:
        if args.only not in target.name:
            continue
        start = time.perf_counter()
        runs, slowest, failure = fuzz(target, args.examples)
        took = time.perf_counter() - start
        verdict = failure or ("SLOW" if slowest > args.slow else "ok")
        bad += verdict != "ok"
        print(f"{target.name:32} {runs:9d} {took:8.1f} {slowest * 1000:11.1f}  {verdict}", flush=True)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
