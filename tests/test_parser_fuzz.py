"""Every parser, fed mutations of its real captured inputs: it returns or raises its
ValueError, never anything else. A short run per parser here; `benchmarks/fuzz_parsers.py`
runs 10,000+ examples each."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from support.fuzz_targets import TARGETS, Target, inputs, run_one, seed_texts


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_parser_survives_mutated_captures(target: Target) -> None:
    seeds = seed_texts(target)
    for seed in seeds:
        run_one(target, seed)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(inputs(seeds))
    def fuzz(text: str) -> None:
        run_one(target, text)

    fuzz()
