"""Building blocks of the generated dashboards: a panel as data, the selectors every query
uses, and the JSON Grafana provisions for panels, rows, variables and dashboards."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

SEL = 'job=~"$job",instance=~"$instance"'
DS = {"type": "prometheus", "uid": "${datasource}"}
FAULTS_ONLY: set[tuple[str, str]] = set()  # (dashboard uid, panel title) of faults-only panels
Thresholds = dict[str, float]


@dataclass
class Panel:
    title: str
    description: str
    unit: str
    targets: list[tuple[str, str]]  # (expr, legend)
    kind: str = "timeseries"
    faults_only: bool = False  # shows data only while something is wrong
    steps: list[tuple[float, str]] = field(default_factory=list)  # threshold steps above green
    links: list[tuple[str, str]] = field(default_factory=list)


Row = tuple[str, list[Panel]]


def q(template: str) -> str:
    """`{S}` / `{S,...}` in the template is the job/instance selector."""
    return re.sub(r"\{S([,}])", lambda m: "{" + SEL + m.group(1), template)


def rate(metric: str, extra: str = "") -> str:
    return f"rate({metric}{{{SEL}{',' + extra if extra else ''}}}[$__rate_interval])"


def increase(metric: str, extra: str = "") -> str:
    return f"increase({metric}{{{SEL}{',' + extra if extra else ''}}}[$__rate_interval])"


def sel(metric: str, extra: str = "") -> str:
    return f"{metric}{{{SEL}{',' + extra if extra else ''}}}"


def panel_json(
    panel: Panel, panel_id: int, x: int, y: int, width: int = 8, height: int = 8
) -> dict[str, Any]:
    steps = [{"color": "green", "value": None}] + [
        {"color": color, "value": value} for value, color in panel.steps
    ]
    data: dict[str, Any] = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": width, "h": height},
        "fieldConfig": {
            "defaults": {"unit": panel.unit, "thresholds": {"mode": "absolute", "steps": steps}},
            "overrides": [],
        },
        "options": {},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DS, "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(panel.targets)
        ],
    }
    if panel.kind == "timeseries":
        data["options"] = {
            "legend": {"displayMode": "list", "placement": "bottom"},
            "tooltip": {"mode": "multi"},
        }
    if panel.kind == "table":
        for target in data["targets"]:
            target.update(format="table", instant=True)
    if panel.kind == "heatmap":  # Prometheus histogram buckets, one cell row per `le`
        for target in data["targets"]:
            target.update(format="heatmap", legendFormat="{{le}}")
        data["options"] = {"calculate": False, "yAxis": {"unit": panel.unit},
                           "cellGap": 1, "color": {"scheme": "Oranges", "mode": "scheme"}}
    if panel.links:
        data["links"] = [{"title": title, "url": url} for title, url in panel.links]
    return data


def row_json(title: str, panel_id: int, y: int) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": "row",
        "title": title,
        "collapsed": False,
        "gridPos": {"x": 0, "y": y, "w": 24, "h": 1},
        "panels": [],
    }


def variable(name: str, query: str, label: str, multi: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "query": {"query": query, "refId": name},
        "definition": query,
        "refresh": 2,
        "sort": 1,
        "multi": multi,
        "includeAll": multi,
        "current": {},
        "options": [],
        "hide": 0,
    }


VARIABLES = [
    {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "options": [],
        "refresh": 1,
    },
    variable("job", "label_values(kvm_exporter_build_info, job)", "Job"),
    variable("instance", 'label_values(kvm_exporter_build_info{job=~"$job"}, instance)', "Host"),
]


def dashboard(
    uid: str,
    title: str,
    description: str,
    rows: list[Row],
    extra_variables: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    y = 0
    panel_id = 1
    for row_title, row_panels in rows:
        panels.append(row_json(row_title, panel_id, y))
        panel_id += 1
        y += 1
        for index, panel in enumerate(row_panels):
            panels.append(panel_json(panel, panel_id, (index % 3) * 8, y + (index // 3) * 8))
            if panel.faults_only:
                FAULTS_ONLY.add((uid, panel.title))
            panel_id += 1
        y += ((len(row_panels) + 2) // 3) * 8
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["kvm-exporter"],
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "",
        "templating": {"list": [*VARIABLES, *(extra_variables or [])]},
        "annotations": {"list": []},
        "links": [
            {
                "title": "KVM fleet",
                "type": "link",
                "url": "/d/kvm-fleet",
                "keepTime": True,
                "includeVars": True,
            },
            {
                "title": "KVM host",
                "type": "link",
                "url": "/d/kvm-host",
                "keepTime": True,
                "includeVars": True,
            },
            {"title": "KVM VM", "type": "link", "url": "/d/kvm-vm", "keepTime": True, "includeVars": True},
        ],
        "panels": panels,
    }


def panels_of(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in board["panels"] if p["type"] != "row"]
