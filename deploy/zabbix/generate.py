#!/usr/bin/env python3
"""Generate the Zabbix 6.0 templates (YAML export format) from the alerting bundle and its
config, so that a rule or threshold change cannot leave Zabbix behind.

    python deploy/zabbix/generate.py                 # the committed kvm-exporter.zabbix.yaml
    python deploy/zabbix/generate.py --config my.yml --out my-template.yaml

Each trigger takes its alert's fault, layer, severity, summary and runbook URL from
`alerts/bundle`, and its thresholds as user macros whose defaults are `alerts/config.yml`'s.
`--compress-time N` divides every trigger window by N (the tests use it as the Prometheus
end-to-end test compresses the rules).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import re
import sys
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ALERTS_DIR = HERE.parents[1] / "alerts"
OUTPUT = HERE / "kvm-exporter.zabbix.yaml"
sys.path[:0] = [str(HERE), str(ALERTS_DIR), str(HERE.parents[1])]  # the last for exporter.libvirt

from bundle import ALERTS, Alert  # noqa: E402
from template_content import PROMETHEUS_ONLY, TEMPLATES, VALUE_MAPS  # noqa: E402
from template_model import Discovery, Graph, Item, Template, Trigger  # noqa: E402


def alert_generator() -> ModuleType:
    """alerts/generate.py (its config loading and runbook URLs), under a name of its own."""
    found = importlib.util.spec_from_file_location("alert_generator", ALERTS_DIR / "generate.py")
    assert found is not None and found.loader is not None
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    return module


RULES = alert_generator()
BY_NAME = {alert.name: alert for alert in ALERTS}
SEVERITY = {"critical": "HIGH", "warning": "WARNING", "info": "INFO"}
COLORS = ("1A7C11", "F63100", "2774A4", "A54F10", "FC6EA3", "6C59DC", "AC8C14", "611F27")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
GROUP = "Templates/Virtualization"
GUARD_WINDOW = "1h"


def uid(*parts: str) -> str:
    """A stable UUIDv4-shaped id (Zabbix wants one per entity) derived from its identity."""
    digest = hashlib.sha256("\0".join(parts).encode()).digest()[:16]
    return uuid.UUID(bytes=digest, version=4).hex


def macro_name(threshold: str) -> str:
    return "{$KVM." + threshold.upper() + "}"


class Builder:
    """Renders one template; collects the threshold macros and value maps it uses."""

    def __init__(self, template: Template, config: dict[str, Any], factor: int) -> None:
        self.t = template
        self.config = config
        self.factor = factor
        self.thresholds: set[str] = set()
        self.valuemaps: set[str] = set()
        self.host_keys = {item.name: self.key(item) for item in template.items}
        self.master = f"{template.keys}.get"
        self.down = self.down_trigger()  # every other trigger depends on it

    # items

    def key(self, item: Item, rule: Discovery | None = None) -> str:
        if rule is None:
            return f"{self.t.keys}.{item.name}"
        params = ",".join(f'"{macro}"' for macro in macros(rule))
        return f"{self.t.keys}.{rule.name}.{item.name}[{params}]"

    def item(self, item: Item, rule: Discovery | None = None) -> dict[str, Any]:
        subject = rule.subject if rule else self.t.title
        rendered: dict[str, Any] = {
            "uuid": uid(self.t.name, self.key(item, rule)),
            "name": f"{subject}: {item.title}",
            "type": "DEPENDENT",
            "key": self.key(item, rule),
            "delay": "0",
            "history": "7d",
            "value_type": item.value_type,
        }
        if item.value_type in ("CHAR", "TEXT"):
            rendered["trends"] = "0"
        if item.units:
            rendered["units"] = item.units
        if item.description:
            rendered["description"] = item.description
        if item.valuemap:
            self.valuemaps.add(item.valuemap)
            rendered["valuemap"] = {"name": item.valuemap}
        rendered["preprocessing"] = preprocessing(item, rule)
        rendered["master_item"] = {"key": self.master}
        rendered["tags"] = [{"tag": "component", "value": rule.name if rule else "host"}]
        return rendered

    # triggers

    def expression(self, text: str, alert: Alert, rule: Discovery | None) -> str:
        keys = dict(self.host_keys)
        items = {item.name: item for item in self.t.items}
        if rule is not None:
            keys.update({item.name: self.key(item, rule) for item in rule.items})
            items.update({item.name: item for item in rule.items})
        # An item without data (its collector off, a sensor without that reading) would leave
        # the trigger UNKNOWN: each such item must have had data within the hour, and Zabbix's
        # "false and unknown" is false.
        optional = [name for name in dict.fromkeys(re.findall(r"@([a-z_0-9]+)", text))
                    if name in items and items[name].missing is None]
        if optional:
            guards = " and ".join(f"count(@{name},{GUARD_WINDOW})>0" for name in optional)
            text = f"{guards} and ({text})"

        def item_ref(match: re.Match[str]) -> str:
            if match.group(1) not in keys:
                scope = rule.name if rule else "host"
                raise SystemExit(f"{alert.name}: no item {match.group(1)!r} in {scope}")
            return f"/{self.t.name}/{keys[match.group(1)]}"

        def placeholder(match: re.Match[str]) -> str:
            name = match.group(1)
            if name == "for":
                if alert.for_ in ("0m", "0s", ""):
                    raise SystemExit(f"{alert.name}: $for used, but the alert has no for")
                return alert.for_
            if name not in self.config["thresholds"]:
                raise SystemExit(f"{alert.name}: unknown threshold ${name}")
            self.thresholds.add(name)
            return macro_name(name)

        text = re.sub(r"@([a-z_0-9]+)", item_ref, text)
        text = re.sub(r"\$([a-z_0-9]+)", placeholder, text)
        return compress(text, self.factor)

    def trigger(self, trigger: Trigger, rule: Discovery | None = None) -> dict[str, Any]:
        alert = BY_NAME.get(trigger.alert)
        if alert is None:
            raise SystemExit(f"trigger for unknown alert {trigger.alert!r}")
        subject = rule.subject if rule else "{HOST.NAME}"
        rendered: dict[str, Any] = {
            "uuid": uid(self.t.name, "trigger", trigger.alert, rule.name if rule else ""),
            "expression": self.expression(trigger.expression, alert, rule),
            "name": f"{alert.summary.rstrip('.')} ({subject})",
            "opdata": "{ITEM.LASTVALUE1}",
            "url": RULES.runbook_url(alert, self.config),
            "priority": SEVERITY[alert.severity],
            "description": describe(alert, rule) + (f"\n\nIn Zabbix: {trigger.note}" if trigger.note else ""),
        }
        rendered["dependencies"] = [{"name": self.down["name"], "expression": self.down["expression"]}]
        rendered["tags"] = [{"tag": "alertname", "value": alert.name}, {"tag": "fault", "value": alert.fault},
                            {"tag": "layer", "value": alert.layer}]
        return rendered

    def down_trigger(self) -> dict[str, Any]:
        alert, c = BY_NAME[self.t.down_alert], self.t.connection
        return {
            "uuid": uid(self.t.name, "trigger", alert.name),
            "expression": f"nodata(/{self.t.name}/{self.host_keys['up']},{{${c}.NODATA.TIMEOUT}})=1",
            "name": f"{alert.summary.rstrip('.')} ({{HOST.NAME}})",
            "url": RULES.runbook_url(alert, self.config),
            "priority": SEVERITY[alert.severity],
            "description": f"No answer from {{${c}.SCHEME}}://{{HOST.CONN}}:{{${c}.PORT}}{{${c}.PATH}} for "
                           f"{{${c}.NODATA.TIMEOUT}}: the item 'get metrics' says why. Every other trigger "
                           f"of the template depends on this one.\n\nImpact: {alert.impact}",
            "tags": [{"tag": "alertname", "value": alert.name}, {"tag": "fault", "value": alert.fault},
                     {"tag": "layer", "value": alert.layer}],
        }

    # graphs, rules, the template

    def graph(self, graph: Graph, rule: Discovery | None = None) -> dict[str, Any]:
        scope = {item.name: item for item in (rule.items if rule else self.t.items)}
        subject = rule.subject if rule else self.t.title
        rendered: dict[str, Any] = {"uuid": uid(self.t.name, "graph", rule.name if rule else "", graph.name),
                                    "name": f"{subject}: {graph.name}"}
        if graph.kind != "NORMAL":
            rendered["type"] = graph.kind
        rendered["graph_items"] = [
            {**({"sortorder": str(i)} if i else {}), "color": COLORS[i % len(COLORS)],
             "item": {"host": self.t.name, "key": self.key(scope[name], rule)}}
            for i, name in enumerate(graph.items)]
        return rendered

    def discovery(self, rule: Discovery) -> dict[str, Any]:
        rendered: dict[str, Any] = {
            "uuid": uid(self.t.name, "discovery", rule.name),
            "name": f"{rule.title} discovery",
            "type": "DEPENDENT",
            "key": f"{self.t.keys}.{rule.name}.discovery",
            "delay": "0",
        }
        conditions = [{"macro": f"{{#{label.upper()}}}", "value": regex, "formulaid": ""}
                      for label, regex in rule.only.items()]
        conditions += [{"macro": f"{{#{label.upper()}}}", "value": regex, "operator": "NOT_MATCHES_REGEX",
                        "formulaid": ""} for label, regex in rule.never.items()]
        if conditions:
            for letter, condition in zip("ABCDEFGH", conditions, strict=False):
                condition["formulaid"] = letter
            rendered["filter"] = {"evaltype": "AND", "conditions": conditions}
        rendered["lifetime"] = "7d"
        rendered["description"] = (f"One entity per series of {rule.family}"
                                   f"{'{' + rule.matchers + '}' if rule.matchers else ''}.")
        rendered["item_prototypes"] = [self.item(item, rule) for item in rule.items]
        if rule.triggers:
            rendered["trigger_prototypes"] = [self.trigger(trigger, rule) for trigger in rule.triggers]
        if rule.graphs:
            rendered["graph_prototypes"] = [self.graph(graph, rule) for graph in rule.graphs]
        rendered["master_item"] = {"key": self.master}
        rendered["lld_macro_paths"] = [{"lld_macro": macro, "path": f"$.{label}"}
                                       for macro, label in zip(macros(rule), rule.labels, strict=True)]
        rendered["preprocessing"] = discovery_preprocessing(rule)
        return rendered

    def master_item(self) -> dict[str, Any]:
        c = self.t.connection
        return {
            "uuid": uid(self.t.name, self.master),
            "name": f"{self.t.title}: get metrics",
            "type": "HTTP_AGENT",
            "key": self.master,
            "delay": f"{{${c}.INTERVAL}}",
            "history": "0",
            "trends": "0",
            "value_type": "TEXT",
            "authtype": "BASIC",
            "username": f"{{${c}.USER}}",
            "password": f"{{${c}.PASSWORD}}",
            "description": "The one scrape of /metrics: every other item depends on it.",
            "timeout": f"{{${c}.TIMEOUT}}",
            "url": f"{{${c}.SCHEME}}://{{HOST.CONN}}:{{${c}.PORT}}{{${c}.PATH}}",
            "ssl_cert_file": f"{{${c}.TLS.CERT_FILE}}",
            "ssl_key_file": f"{{${c}.TLS.KEY_FILE}}",
            "ssl_key_password": f"{{${c}.TLS.KEY_PASSWORD}}",
            "verify_peer": "YES",
            "verify_host": "YES",
            "tags": [{"tag": "component", "value": "raw"}],
        }

    def connection_macros(self) -> list[dict[str, str]]:
        c = self.t.connection
        return [
            {"macro": f"{{${c}.INTERVAL}}", "value": "1m", "description": "How often /metrics is scraped."},
            {"macro": f"{{${c}.NODATA.TIMEOUT}}", "value": BY_NAME[self.t.down_alert].for_,
             "description": "No answer for this long: the exporter is down (at least 30s)."},
            {"macro": f"{{${c}.PASSWORD}}", "value": "", "type": "SECRET_TEXT",
             "description": "Basic-auth password (--web.config.file), if any."},
            {"macro": f"{{${c}.PATH}}", "value": "/metrics", "description": "The metrics path."},
            {"macro": f"{{${c}.PORT}}", "value": str(self.t.default_port), "description": "The port."},
            {"macro": f"{{${c}.SCHEME}}", "value": "http", "description": "http, or https with TLS."},
            {"macro": f"{{${c}.TIMEOUT}}", "value": "15s", "description": "Scrape timeout."},
            {"macro": f"{{${c}.TLS.CERT_FILE}}", "value": "",
             "description": "Client certificate for mTLS (a file in the server's SSLCertLocation)."},
            {"macro": f"{{${c}.TLS.KEY_FILE}}", "value": "",
             "description": "Its key (a file in the server's SSLKeyLocation)."},
            {"macro": f"{{${c}.TLS.KEY_PASSWORD}}", "value": "", "type": "SECRET_TEXT",
             "description": "The key's password, if any."},
            {"macro": f"{{${c}.USER}}", "value": "", "description": "Basic-auth user, if any."},
        ]

    def build(self) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
        """The template, and its triggers and graphs (which the export lists apart)."""
        items = [self.master_item(), *(self.item(item) for item in self.t.items)]
        rules = [self.discovery(rule) for rule in self.t.discoveries]
        triggers = [self.down, *(self.trigger(trigger) for trigger in self.t.triggers)]
        graphs = [self.graph(graph) for graph in self.t.graphs]
        thresholds = [{"macro": macro_name(name), "value": str(self.config["thresholds"][name]),
                       "description": f"alerts/config.yml: {name}"} for name in sorted(self.thresholds)]
        macro_list = sorted([*self.connection_macros(), *thresholds], key=lambda m: m["macro"])
        template: dict[str, Any] = {
            "uuid": uid(self.t.name),
            "template": self.t.name,
            "name": self.t.name,
            "description": self.t.description,
            "groups": [{"name": GROUP}],
            "items": items,
            "discovery_rules": rules,
            "tags": [{"tag": "class", "value": "virtualization"}],
            "macros": macro_list,
            "valuemaps": [valuemap(name) for name in sorted(self.valuemaps)],
        }
        if not rules:
            del template["discovery_rules"]
        return template, triggers, graphs


def macros(rule: Discovery) -> list[str]:
    return [f"{{#{label.upper()}}}" for label in rule.labels]


def pattern(item: Item, rule: Discovery | None) -> str:
    matchers = [f'{label}="{macro}"' for label, macro in zip(rule.labels, macros(rule), strict=True)
                ] if rule else []
    if item.matchers:
        matchers.append(item.matchers)
    return f"{item.family}{{{','.join(matchers)}}}{item.value_filter}" if matchers else (
        f"{item.family}{item.value_filter}")


def preprocessing(item: Item, rule: Discovery | None) -> list[dict[str, Any]]:
    if item.output == "value":
        output = ["value", ""]
    elif item.output.startswith("label:"):
        output = ["label", item.output.removeprefix("label:")]
    else:
        output = ["function", item.output]
    if item.output.startswith("labels:"):
        return labels_code(item, rule)
    step: dict[str, Any] = {"type": "PROMETHEUS_PATTERN", "parameters": [pattern(item, rule), *output]}
    if item.missing is not None:
        step |= {"error_handler": "CUSTOM_VALUE", "error_handler_params": item.missing}
    else:
        step["error_handler"] = "DISCARD_VALUE"
    steps = [step]
    if item.codes:
        table = ", ".join(f'"{name}": {code}' for name, code in item.codes.items())
        steps.append({"type": "JAVASCRIPT", "parameters": [
            f"var codes = {{{table}}};\nif (!(value in codes)) {{\n    throw 'unknown state ' + value;\n}}\n"
            "return codes[value];"]})
    if item.per_second:
        steps.append({"type": "CHANGE_PER_SECOND", "parameters": [""]})
    return steps


def labels_code(item: Item, rule: Discovery | None) -> list[dict[str, Any]]:
    """The code of a combination of labels of the one matching series (`state/reason`), for a
    value map: Prometheus to JSON, then a script (Zabbix takes no error handler on a script:
    an unknown combination makes the item unsupported, with the script's message)."""
    assert item.codes is not None, item.name
    labels = ", ".join(f'"{label}"' for label in item.output.removeprefix("labels:").split(","))
    table = ", ".join(f'"{name}": {code}' for name, code in item.codes.items())
    script = (f"var codes = {{{table}}}, labels = [{labels}], rows = JSON.parse(value);\n"
              "if (rows.length !== 1) {\n    throw 'expected one series, not ' + rows.length;\n}\n"
              "var key = labels.map(function (label) { return rows[0].labels[label]; }).join('/');\n"
              "if (!(key in codes)) {\n    throw 'unknown ' + key;\n}\nreturn codes[key];")
    return [{"type": "PROMETHEUS_TO_JSON", "parameters": [pattern(item, rule)],
             "error_handler": "DISCARD_VALUE"},
            {"type": "JAVASCRIPT", "parameters": [script]}]


def discovery_preprocessing(rule: Discovery) -> list[dict[str, Any]]:
    labels = ", ".join(f'"{label}"' for label in rule.labels)
    selector = f"{rule.family}{{{rule.matchers}}}" if rule.matchers else rule.family
    # one row per entity, sorted, values left out: unchanged rows are not rediscovered every scrape
    rows = (f"var labels = [{labels}], seen = {{}}, rows = [];\n"
            "JSON.parse(value).forEach(function (series) {\n"
            "    var row = {};\n"
            "    labels.forEach(function (label) { row[label] = series.labels[label] || ''; });\n"
            "    var id = JSON.stringify(row);\n"
            "    if (!seen[id]) { seen[id] = true; rows.push(row); }\n"
            "});\n"
            "rows.sort(function (a, b) { return JSON.stringify(a) < JSON.stringify(b) ? -1 : 1; });\n"
            "return JSON.stringify(rows);")
    return [
        {"type": "PROMETHEUS_TO_JSON", "parameters": [selector]},
        {"type": "JAVASCRIPT", "parameters": [rows]},
        {"type": "DISCARD_UNCHANGED_HEARTBEAT", "parameters": ["1h"]},
    ]


def valuemap(name: str) -> dict[str, Any]:
    return {"uuid": uid("valuemap", name), "name": name,
            "mappings": [{"value": str(code), "newvalue": text}
                         for code, text in sorted(VALUE_MAPS[name].items())]}


def describe(alert: Alert, rule: Discovery | None) -> str:
    """The alert's description in Zabbix macros ({{ $labels.domain }} -> {#DOMAIN}); where it
    names a label the entity does not have, the summary stands instead."""
    known = set(rule.labels) if rule else set()
    text = alert.description
    text = re.sub(r"\{\{ \$labels\.instance \}\}", "{HOST.NAME}", text)
    text = re.sub(r"\{\{ \$value[^}]*\}\}", "{ITEM.LASTVALUE1}", text)
    text = re.sub(r"\{\{ \$labels\.([a-z_]+) \}\}",
                  lambda m: f"{{#{m.group(1).upper()}}}" if m.group(1) in known else m.group(0), text)
    if "{{" in text:
        text = alert.summary
    return f"{text}\n\nImpact: {alert.impact}"


def compress(text: str, factor: int) -> str:
    """`max(...,15m)` -> `max(...,15s)` for factor 60; never below 10 s, five scrapes at the
    tests' interval, so that a late scrape leaves no window without data."""
    if factor == 1:
        return text
    return re.sub(r"(?<=,)(\d+)([smhdw])(?=\))",
                  lambda m: f"{max(10, int(m.group(1)) * UNITS[m.group(2)] // factor)}s", text)


def export(config: dict[str, Any], factor: int = 1) -> dict[str, Any]:
    templates: list[dict[str, Any]] = []
    triggers: list[dict[str, Any]] = []
    graphs: list[dict[str, Any]] = []
    for template in TEMPLATES:
        rendered, template_triggers, template_graphs = Builder(template, config, factor).build()
        templates.append(rendered)
        triggers += template_triggers
        graphs += template_graphs
    return {"zabbix_export": {"version": "6.0", "groups": [{"uuid": uid("group", GROUP), "name": GROUP}],
                              "templates": templates, "triggers": triggers, "graphs": graphs}}


def coverage_problems() -> list[str]:
    """Every bundle alert is a trigger or named in PROMETHEUS_ONLY with its reason, never both."""
    mapped = {template.down_alert for template in TEMPLATES}
    for template in TEMPLATES:
        mapped |= {t.alert for t in template.triggers}
        mapped |= {t.alert for rule in template.discoveries for t in rule.triggers}
    problems = [f"{name}: neither a trigger nor in PROMETHEUS_ONLY" for name in BY_NAME
                if name not in mapped and name not in PROMETHEUS_ONLY]
    problems += [f"{name}: a trigger and in PROMETHEUS_ONLY" for name in mapped & set(PROMETHEUS_ONLY)]
    problems += [f"{name}: not a bundle alert" for name in (mapped | set(PROMETHEUS_ONLY)) - set(BY_NAME)]
    return problems


def render(config: dict[str, Any], factor: int = 1) -> str:
    problems = coverage_problems()
    if problems:
        raise SystemExit("\n".join(problems))
    header = ("# Generated by deploy/zabbix/generate.py from alerts/bundle and alerts/config.yml:"
              " do not edit.\n"
              "# Import: Configuration > Templates > Import, or the API's configuration.import.\n")
    return header + yaml.safe_dump(export(config, factor), sort_keys=False, allow_unicode=True, width=1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, help="your alerts config (thresholds, runbook URL)")
    parser.add_argument("--out", type=Path, default=OUTPUT)
    parser.add_argument("--compress-time", type=int, default=1, metavar="N")
    args = parser.parse_args()
    args.out.write_text(render(RULES.load_config(args.config), args.compress_time))


if __name__ == "__main__":
    main()
