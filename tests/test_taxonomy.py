"""One taxonomy (alerts/taxonomy.yml), found everywhere by its fault ids: every fault id is
named by a collector module, has an alert, a fleet-map panel and an end-to-end case, so that
grepping a fault id finds its code, parser, rule, runbook, panel and tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.bundle import ALERTS, FAULTS, ROOT

COLLECTOR_SOURCES = {p: p.read_text() for p in (ROOT / "exporter" / "collectors").rglob("*.py")}
# the remediation fault's signals come from kvm-remediator, and its end-to-end case too
REMEDIATOR = ROOT / "exporter" / "remediator"
SOURCES = {**COLLECTOR_SOURCES, **{p: p.read_text() for p in REMEDIATOR.rglob("*.py")}}
E2E = "".join((ROOT / "tests" / f"test_{name}_e2e.py").read_text() for name in ("alerting", "remediation"))
FLEET = json.loads((ROOT / "dashboards" / "kvm-fleet.json").read_text())


@pytest.mark.parametrize("fault", list(FAULTS))
def test_every_fault_id_is_found_end_to_end(fault: str) -> None:
    modules = [p for p, text in SOURCES.items() if fault in text]
    assert modules, f"no collector module names {fault}"
    assert [a.name for a in ALERTS if a.fault == fault], f"no alert for {fault}"
    titles = {p["title"] for p in FLEET["panels"]}
    assert f"{fault}: firing alerts" in titles, f"no fleet panel for {fault}"
    assert f'"{fault}"' in E2E, f"no end-to-end case injects {fault}"
    runbooks = [ROOT / "alerts" / "runbooks" / f"{a.name}.md" for a in ALERTS if a.fault == fault]
    assert all(Path(r).exists() for r in runbooks)


def test_every_collector_module_names_its_fault_ids() -> None:
    """A collector's home (its __init__ or module) says in its docstring which fault ids it
    serves, so the fault id leads to it."""
    homes = [p for p in COLLECTOR_SOURCES if p.name == "__init__.py" and p.parent.name != "collectors"]
    homes += [p for p in COLLECTOR_SOURCES if p.parent.name == "collectors" and p.name != "__init__.py"]
    unnamed = [str(p.relative_to(ROOT)) for p in homes
               if not any(fault in COLLECTOR_SOURCES[p].split('"""')[1] for fault in FAULTS)]
    assert unnamed == []
