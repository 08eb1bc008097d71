from __future__ import annotations

import math

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_text
from support.promtool import check_metrics

from exporter.metrics import SeriesNames, counter, format_value, gauge, render

NASTY = 'quote " backslash \\ newline \n unicode ☃ Ω'


def sample_families() -> list:
    up = gauge("thing_up", "Whether the thing is up.")
    up.add((), 1)
    cpu = counter("thing_cpu_seconds", "CPU time of the thing, in seconds.", ["domain"])
    cpu.add(("plain",), 1.5)
    cpu.add((NASTY,), 2)
    return [up, cpu]


def test_text_format_round_trips_through_the_reference_parser() -> None:
    text = render(sample_families())
    families = {f.name: f for f in parse_text(text)}
    cpu = families["kvm_thing_cpu_seconds"]
    assert cpu.type == "counter"
    values = {s.labels["domain"]: s.value for s in cpu.samples}
    assert values == {"plain": 1.5, NASTY: 2.0}
    assert "# TYPE kvm_thing_cpu_seconds_total counter" in text


def test_openmetrics_format_round_trips_and_ends_with_eof() -> None:
    text = render(sample_families(), openmetrics=True)
    assert text.endswith("# EOF\n")
    families = {f.name: f for f in parse_om(text)}
    assert families["kvm_thing_cpu_seconds"].type == "counter"
    assert {s.labels["domain"] for s in families["kvm_thing_cpu_seconds"].samples} == {"plain", NASTY}


def test_promtool_accepts_escaped_output() -> None:
    assert check_metrics(render(sample_families())) == ""


def test_families_of_one_name_are_merged_and_empty_ones_keep_headers() -> None:
    a = gauge("x", "X.", ["k"])
    a.add(("1",), 1)
    b = gauge("x", "X.", ["k"])
    b.add(("2",), 2)
    text = render([a, b])
    assert text.count("# TYPE kvm_x gauge") == 1
    assert 'kvm_x{k="1"} 1\nkvm_x{k="2"} 2\n' in text


@pytest.mark.parametrize(
    ("value", "text"),
    [(1, "1"), (2.0, "2"), (0.25, "0.25"), (math.nan, "NaN"), (math.inf, "+Inf"),
     (-math.inf, "-Inf"), (1e21, "1000000000000000000000"), (2.5e-7, "2.5e-07")],
)
def test_value_formatting(value: float, text: str) -> None:
    assert format_value(value) == text


def test_series_names_kept_across_renders_stay_bounded() -> None:
    """Each series' escaped name is kept for the next render, but names of series that are
    gone (domains that came and went) do not pile up: at most about twice the live ones."""
    names = SeriesNames()
    for generation in range(50):
        family = gauge("churn", "Series whose label values change every render.", ["domain"])
        for i in range(1000):
            family.add((f"d{generation}-{i}",), i)
        text = render([family], names=names)
        assert f'kvm_churn{{domain="d{generation}-999"}} 999\n' in text
    assert names._size <= 2 * 1002 + 1024
    same = gauge("same", 'A label with "quotes" and a \\ backslash.', ["v"])
    same.add(('a"b\\c',), 1)
    assert render([same], names=names) == render([same], names=SeriesNames())
