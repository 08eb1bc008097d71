#!/usr/bin/env python3
"""Generate the alerting bundle from alerts/bundle/ (one file per layer) and a config.

    python alerts/generate.py                          # the committed files, default config
    python alerts/generate.py --config my.yml --out DIR   # your thresholds, selector, runbook URL

Writes DIR/rules/{recording,slo,<layer>}.rules.yml, DIR/runbooks/<Alert>.md and
DIR/tests/<layer>.test.yml (`promtool test rules` cases). `--compress-time N` divides
every range, offset and `for` by N (the end-to-end test uses N=60, so minutes pass in
seconds).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from string import Template
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bundle import ALERTS, RECORDS, SLO_RECORDS, Alert, Case, J, Record, RecordCase  # noqa: E402
from taxonomy import FAULTS, LAYERS  # noqa: E402


def load_config(path: Path | None) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((HERE / "config.yml").read_text())
    if path is not None:
        override = yaml.safe_load(path.read_text()) or {}
        unknown = set(override) - set(config) | set(override.get("thresholds", {})) - set(
            config["thresholds"]
        )
        if unknown:
            raise SystemExit(f"{path}: unknown settings {sorted(unknown)}")
        thresholds = {**config["thresholds"], **override.pop("thresholds", {})}
        config = {**config, **override, "thresholds": thresholds}
    return config


def expression(template: str, config: dict[str, Any]) -> str:
    values = {
        "sel": config["selector"],
        "rsel": config["remediator_selector"],
        "ssd_pool_matcher": config["ssd_pool_matcher"],
        **config["thresholds"],
        "vm_error_budget": error_budget(config["thresholds"]["vm_availability_target"]),
    }
    return Template(template).substitute(values)


def error_budget(target: Any) -> str:
    """1 - target, as PromQL reads it (0.9999 -> 0.0001, not 9.999999999998899e-05)."""
    if isinstance(target, bool) or not isinstance(target, (int, float)) or not 0 < target < 1:
        raise SystemExit(f"vm_availability_target must be a number between 0 and 1 (exclusive), "
                         f"not {target!r}")
    return f"{1 - target:.10g}"


UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def compress(text: str, factor: int) -> str:
    """`[15m]` -> `[15s]`, `offset 1h` -> `offset 60s`, `5m` -> `5s` for factor 60 (>= 2s)."""
    if factor == 1:
        return text

    def seconds(match: re.Match[str]) -> str:
        original = int(match.group(2)) * UNITS[match.group(3)]
        value = max(2, original // factor) if original else 0
        return f"{match.group(1)}{value}s"

    return re.sub(r"(\[|offset |^)(\d+)([smhdw])(?=\]|\b)", seconds, text)


def runbook_url(alert: Alert, config: dict[str, Any]) -> str:
    return f"{config['runbook_base_url'].rstrip('/')}/{alert.name}.md"


def alert_rule(alert: Alert, config: dict[str, Any], factor: int = 1) -> dict[str, Any]:
    return {
        "alert": alert.name,
        "expr": compress(expression(alert.expr, config), factor),
        "for": compress(alert.for_, factor),
        "labels": {
            "severity": alert.severity,
            "layer": alert.layer,
            "fault": alert.fault,
            **alert.extra_labels,
        },
        "annotations": {
            "summary": alert.summary,
            "description": alert.description,
            "runbook_url": runbook_url(alert, config),
        },
    }


def recording_file(group: str, records: list[Record], config: dict[str, Any], factor: int) -> dict[str, Any]:
    rules = [{"record": r.record, "expr": compress(expression(r.expr, config), factor)} for r in records]
    return {"groups": [{"name": f"kvm-exporter.{group}", "rules": rules}]}


def rule_files(config: dict[str, Any], factor: int = 1) -> dict[str, dict[str, Any]]:
    files = {
        "recording.rules.yml": recording_file("recording", RECORDS, config, factor),
        "slo.rules.yml": recording_file("slo", SLO_RECORDS, config, factor),
    }
    for layer in LAYERS:
        rules = [alert_rule(a, config, factor) for a in ALERTS if a.layer == layer]
        files[f"{layer}.rules.yml"] = {"groups": [{"name": f"kvm-exporter.{layer}", "rules": rules}]}
    return files


def test_case(alert: Alert, case: Case, config: dict[str, Any]) -> dict[str, Any]:
    expected = []
    if case.labels is not None:
        labels = dict(label.split("=", 1) for label in J.split(","))
        labels = {k: v.strip('"') for k, v in labels.items()}
        expected = [
            {
                # a case label given as "" is one the alert does not have (a fleet-wide rule)
                "exp_labels": {k: v for k, v in {
                    **labels,
                    "severity": alert.severity,
                    "layer": alert.layer,
                    "fault": alert.fault,
                    **alert.extra_labels,
                    **case.labels,
                }.items() if v},
                "exp_annotations": {
                    "summary": alert.summary,
                    "description": case.description,
                    "runbook_url": runbook_url(alert, config),
                },
            }
        ]
    return {
        "interval": "1m",
        "input_series": [{"series": series, "values": values} for series, values in case.series.items()],
        "alert_rule_test": [{"eval_time": case.at, "alertname": alert.name, "exp_alerts": expected}],
    }


def record_test(record: Record, case: RecordCase) -> dict[str, Any]:
    return {
        "interval": "1m",
        "input_series": [{"series": series, "values": values} for series, values in case.series.items()],
        "promql_expr_test": [{
            "expr": record.record,
            "eval_time": case.at,
            "exp_samples": [{"labels": f"{record.record}{{{J}{',' + labels if labels else ''}}}",
                             "value": value} for labels, value in case.samples.items()],
        }],
    }


def test_files(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    files = {"recording.test.yml": {
        "rule_files": ["../rules/recording.rules.yml", "../rules/slo.rules.yml"],
        "evaluation_interval": "1m",
        "tests": [record_test(r, c) for r in [*RECORDS, *SLO_RECORDS] for c in r.cases],
    }}
    for layer in LAYERS:
        # only the virtualization alerts read the SLO records: the other layers' cases need
        # not evaluate them at every step
        slo = ["../rules/slo.rules.yml"] if layer == "virtualization" else []
        records = ["../rules/recording.rules.yml", *slo]
        cases = [(c.every, test_case(a, c, config)) for a in ALERTS if a.layer == layer for c in a.cases]
        for every in sorted({every for every, _ in cases}, key=lambda e: e != "1m"):
            name = f"{layer}.test.yml" if every == "1m" else f"{layer}-every-{every}.test.yml"
            files[name] = {
                "rule_files": [*records, f"../rules/{layer}.rules.yml"],
                "evaluation_interval": every,
                "tests": [case for case_every, case in cases if case_every == every],
            }
    return files


def runbook(alert: Alert, config: dict[str, Any]) -> str:
    rule = alert_rule(alert, config)
    diagnosis = "\n".join(f"- {step}" for step in alert.diagnosis)
    mitigation = "\n".join(f"{number}. {step}" for number, step in enumerate(alert.mitigation, 1))
    return f"""# {alert.name}

Severity **{alert.severity}** · layer `{alert.layer}` · fault `{alert.fault}`

## Meaning

{alert.summary} It fires when this expression has returned a series for `{rule["for"]}`:

```promql
{rule["expr"]}
```

Annotation: {alert.description}

## Impact

{alert.impact}

## Diagnosis

{diagnosis}
- Dashboard: **{alert.dashboard}** (`dashboards/`), and the fleet fault map row `{alert.layer}`.

## Mitigation

{mitigation}
"""


def dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, width=1000, allow_unicode=True)


def taxonomy_problems() -> list[str]:
    """Alerts whose fault id or layer the taxonomy does not have; fault ids without an alert."""
    problems = [f"{a.name}: fault {a.fault!r} of layer {a.layer!r} is not in alerts/taxonomy.yml"
                for a in ALERTS if a.fault not in FAULTS or FAULTS[a.fault].layer != a.layer]
    alerted = {a.fault for a in ALERTS}
    problems += [f"fault {fault!r} has no alert" for fault in FAULTS if fault not in alerted]
    return problems


def generate(out: Path, config: dict[str, Any], factor: int = 1) -> list[Path]:
    problems = taxonomy_problems()
    if problems:
        raise SystemExit("alerts/bundle/ does not match the taxonomy:\n" + "\n".join(problems))
    written = []
    for directory, files in (("rules", rule_files(config, factor)), ("tests", test_files(config))):
        (out / directory).mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            path = out / directory / name
            path.write_text(
                "# Generated by alerts/generate.py from alerts/bundle/: do not edit.\n" + dump(data)
            )
            written.append(path)
    (out / "runbooks").mkdir(parents=True, exist_ok=True)
    for alert in ALERTS:
        path = out / "runbooks" / f"{alert.name}.md"
        path.write_text(runbook(alert, config))
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, help="YAML overriding alerts/config.yml")
    parser.add_argument("--out", type=Path, default=HERE, help="output directory (default: alerts/)")
    parser.add_argument(
        "--compress-time",
        type=int,
        default=1,
        metavar="N",
        help="divide every range, offset and `for` by N (tests only)",
    )
    args = parser.parse_args()
    written = generate(args.out, load_config(args.config), args.compress_time)
    print(f"wrote {len(written)} files under {args.out}")


if __name__ == "__main__":
    main()
