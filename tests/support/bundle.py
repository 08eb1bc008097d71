"""The alerting bundle as the tests see it: alerts/bundle/, alerts/taxonomy.py and the
generator, importable from tests (alerts/ is not a package)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
ALERTS_DIR = ROOT / "alerts"
sys.path.insert(0, str(ALERTS_DIR))

from bundle import ALERTS, RECORDS, SLO_RECORDS, Alert  # noqa: E402
from bundle.records import VM_RECORDS  # noqa: E402
from generate import generate, load_config, taxonomy_problems  # noqa: E402
from taxonomy import FAULTS, LAYERS  # noqa: E402

__all__ = ["ALERTS", "ALERTS_DIR", "FAULTS", "LAYERS", "RECORDS", "ROOT", "SLO_RECORDS", "VM_RECORDS",
           "Alert", "generate", "load_config", "taxonomy_problems"]
