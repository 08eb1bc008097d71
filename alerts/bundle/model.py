"""What an alert, a promtool case and a recording rule are, and the helpers the layer files
share. Expressions are `string.Template`s over the config (`$sel` is the selector,
`$<threshold>` a threshold); annotations are Prometheus templates, untouched."""

from __future__ import annotations

from dataclasses import dataclass, field

J = 'job="kvm-exporter",instance="hv1:9978"'  # the labels of every test series


@dataclass(frozen=True, kw_only=True)
class Case:
    """A promtool alert test. `labels` None: the alert must not fire at `at`."""

    series: dict[str, str]
    at: str
    labels: dict[str, str] | None = None
    description: str = ""
    every: str = "1m"  # how often promtool evaluates the rules; coarser for a day of history


@dataclass(frozen=True, kw_only=True)
class Alert:
    name: str
    layer: str
    fault: str
    severity: str
    expr: str
    for_: str
    summary: str
    description: str
    impact: str
    diagnosis: list[str]
    mitigation: list[str]
    dashboard: str
    cases: list[Case] = field(default_factory=list)
    extra_labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class RecordCase:
    """A promtool expression test of a recording rule: at `at`, the rule gives exactly
    `samples` (the labels besides job and instance, as `k="v",...` text -> value)."""

    series: dict[str, str]
    at: str
    samples: dict[str, float]


@dataclass(frozen=True)
class Record:
    record: str
    expr: str
    cases: list[RecordCase] = field(default_factory=list)



def grew(metric: str, window: str, by: str, selector: str = "$sel") -> str:
    """`metric` grew within `window`, counting a series that first appeared within it: the
    exporter's event counters (a domain's first crash, a new error code) start at 1 when the
    event happens. `up offset` keeps a target Prometheus has only just found from firing."""
    return (f"sum by ({by}) (increase({metric}[{window}])) > 0"
            f" or sum by ({by}) (({metric} unless {metric} offset {window})"
            f" and on (job, instance) (up{{{selector}}} offset {window}) == 1) > 0")


def crash_loop(metric: str) -> str:
    """Crashes of each VM within `$vm_crash_loop_window`, above `$vm_crash_loop_crashes`. The
    counter starts at 1 with the first crash, which `increase` cannot see: a series born within
    the window adds its first value, once Prometheus has known the target for a whole window.
    `round` keeps increase's extrapolation from turning exactly N crashes into more than N."""
    window = "$vm_crash_loop_window"
    born = (f"(round(increase({metric}[{window}])) + min_over_time({metric}[{window}])"
            f" unless {metric} offset {window})"
            f" and on (job, instance) (up{{$sel}} offset {window} == 1)")
    return (f"sum by (job, instance, domain) ({born} or round(increase({metric}[{window}])))"
            " > $vm_crash_loop_crashes")


HOST = "{{ $labels.instance }}"
VM = "{{ $labels.domain }}"


def s(name: str, labels: str = "") -> str:
    """A test series selector with the job/instance labels."""
    return f"{name}{{{J}{',' + labels if labels else ''}}}"
