"""The fault taxonomy (alerts/taxonomy.yml): layers in order, fault ids with their layer and
what goes wrong. One file, read by the alert generator, the dashboards and the tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

TAXONOMY_FILE = Path(__file__).resolve().parent / "taxonomy.yml"


@dataclass(frozen=True)
class Fault:
    id: str
    layer: str
    description: str


def load_faults(path: Path = TAXONOMY_FILE) -> dict[str, Fault]:
    """fault id -> Fault, in the file's order; raises ValueError on a malformed file."""
    layers = (yaml.safe_load(path.read_text()) or {}).get("layers")
    if not isinstance(layers, dict) or not layers:
        raise ValueError(f"{path}: no 'layers' mapping")
    faults: dict[str, Fault] = {}
    for layer, entries in layers.items():
        if not isinstance(entries, dict) or not entries:
            raise ValueError(f"{path}: layer {layer!r} has no fault ids")
        for fault, description in entries.items():
            if fault in faults:
                raise ValueError(f"{path}: fault id {fault!r} in two layers")
            faults[fault] = Fault(fault, layer, str(description))
    return faults


FAULTS = load_faults()
LAYERS = tuple(dict.fromkeys(fault.layer for fault in FAULTS.values()))
