"""The alerting bundle as data: recording rules, alerts (one or more per fault id of the
taxonomy), their runbooks and their `promtool test rules` cases, one file per layer.

`generate.py` turns this into `rules/*.rules.yml`, `runbooks/<Alert>.md` and
`tests/*.test.yml`. To add an alert, add an `Alert(...)` to its layer's file, with a firing
and a quiet `Case`, and run `python alerts/generate.py`.
"""

from __future__ import annotations

from bundle import capacity, cluster, exporter, hardware, network, remediation, storage, virtualization
from bundle.model import HOST, VM, Alert, Case, J, Record, RecordCase, grew, s
from bundle.records import RECORDS as HOST_RECORDS
from bundle.slo import SLO_RECORDS

ALERTS: list[Alert] = [*hardware.ALERTS, *virtualization.ALERTS, *network.ALERTS, *storage.ALERTS,
                       *cluster.ALERTS, *capacity.ALERTS, *exporter.ALERTS, *remediation.ALERTS]
RECORDS = [*HOST_RECORDS, *remediation.RECORDS]

__all__ = ["ALERTS", "HOST", "RECORDS", "SLO_RECORDS", "VM", "Alert", "Case", "J", "Record", "RecordCase", "grew", "s"]
