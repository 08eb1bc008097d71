#!/usr/bin/env python3
"""Generate the Grafana dashboards (fleet fault map, host, VM) as JSON.

    python dashboards/generate_dashboards.py                        # rewrite dashboards/*.json
    python dashboards/generate_dashboards.py --config my.yml --out DIR   # your thresholds, runbooks

Plain data, not a dashboard SDK: `panels.py` builds the panels, `fleet.py`, `host.py` and
`vm.py` hold one function per row, and the output is exactly the JSON Grafana provisions,
so a review reads the diff of what users get. Thresholds and the runbook base URL come from
the alerting bundle's config (alerts/config.yml, or --config), so panels turn red where the
alerts fire; the fault ids and layers come from alerts/taxonomy.yml.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "alerts")]

import fleet  # noqa: E402
import host  # noqa: E402
import vm  # noqa: E402
from generate import load_config  # noqa: E402
from panels import FAULTS_ONLY, panels_of  # noqa: E402

Config = dict[str, Any]

DASHBOARDS: dict[str, Callable[[Config], dict[str, Any]]] = {
    "kvm-fleet.json": lambda config: fleet.build(config["thresholds"], config["runbook_base_url"]),
    "kvm-host.json": lambda config: host.build(config["thresholds"]),
    "kvm-vm.json": lambda config: vm.build(config["thresholds"]),
}


def faults_only_panels(config: Config | None = None) -> set[tuple[str, str]]:
    """(dashboard uid, panel title) of the panels that show data only while something is
    wrong: empty is their healthy state."""
    FAULTS_ONLY.clear()
    for build in DASHBOARDS.values():
        build(config or load_config(None))
    return set(FAULTS_ONLY)


def generate(out: Path = HERE, config: Config | None = None) -> list[Path]:
    config = config or load_config(None)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, build in DASHBOARDS.items():
        path = out / name
        path.write_text(json.dumps(build(config), indent=2, ensure_ascii=False) + "\n")
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, help="YAML overriding alerts/config.yml")
    parser.add_argument("--out", type=Path, default=HERE, help="output directory (default: dashboards/)")
    args = parser.parse_args()
    print("\n".join(str(p) for p in generate(args.out, load_config(args.config))))


__all__ = ["DASHBOARDS", "faults_only_panels", "generate", "panels_of"]

if __name__ == "__main__":
    main()
