"""The Zabbix template (deploy/zabbix/) is generated from the alerting bundle: the committed file
is what the generator makes, every fault id has a trigger, every alert is a trigger or says why
it is not, and severities, tags, thresholds and dependencies come from the bundle. Its import
into a real Zabbix server is tests/test_zabbix_live.py."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from support.bundle import ALERTS, FAULTS, ROOT, load_config

ZABBIX = ROOT / "deploy" / "zabbix"
COMMITTED = ZABBIX / "kvm-exporter.zabbix.yaml"
BY_NAME = {alert.name: alert for alert in ALERTS}


def load_generator() -> ModuleType:
    found = importlib.util.spec_from_file_location("zabbix_generate", ZABBIX / "generate.py")
    assert found is not None and found.loader is not None
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    return module


GENERATOR = load_generator()


@pytest.fixture(scope="module")
def export() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data: dict[str, Any] = yaml.load(COMMITTED.read_text(), Loader=loader)["zabbix_export"]
    return data


def all_triggers(export: dict[str, Any]) -> list[dict[str, Any]]:
    prototypes = [trigger for template in export["templates"] for rule in template.get("discovery_rules", [])
                  for trigger in rule.get("trigger_prototypes", [])]
    return [*export["triggers"], *prototypes]


def tags(trigger: dict[str, Any]) -> dict[str, str]:
    return {tag["tag"]: tag["value"] for tag in trigger["tags"]}


def test_the_committed_template_is_what_the_generator_makes() -> None:
    fresh = GENERATOR.render(load_config(None))
    assert fresh == COMMITTED.read_text(), "run: python deploy/zabbix/generate.py"


def test_every_alert_is_a_trigger_or_says_why_not() -> None:
    assert GENERATOR.coverage_problems() == []
    assert all(reason.strip() for reason in GENERATOR.PROMETHEUS_ONLY.values())


def test_every_fault_id_has_a_trigger(export: dict[str, Any]) -> None:
    covered = {tags(trigger)["fault"] for trigger in all_triggers(export)}
    assert set(FAULTS) - covered == set()


def test_triggers_carry_the_bundles_severity_tags_and_runbook(export: dict[str, Any]) -> None:
    severity = {"critical": "HIGH", "warning": "WARNING", "info": "INFO"}
    for trigger in all_triggers(export):
        alert = BY_NAME[tags(trigger)["alertname"]]
        assert tags(trigger) == {"alertname": alert.name, "fault": alert.fault, "layer": alert.layer}
        assert trigger["priority"] == severity[alert.severity], alert.name
        assert trigger["url"].endswith(f"/{alert.name}.md")


def test_every_trigger_but_exporter_down_depends_on_it(export: dict[str, Any]) -> None:
    down = {template["template"]: f"nodata(/{template['template']}/" for template in export["templates"]}
    for trigger in all_triggers(export):
        if trigger["expression"].startswith("nodata("):
            assert "dependencies" not in trigger
            continue
        template = trigger["expression"].split("/")[1]
        (dependency,) = trigger["dependencies"]
        assert dependency["expression"].startswith(down[template]), trigger["name"]


def test_macros_in_use_are_defined_with_the_configs_values(export: dict[str, Any]) -> None:
    thresholds = load_config(None)["thresholds"]
    for template in export["templates"]:
        defined = {macro["macro"]: macro["value"] for macro in template["macros"]}
        text = yaml.safe_dump(template) + yaml.safe_dump(
            [t for t in all_triggers(export) if f"/{template['template']}/" in t["expression"]])
        used = set(re.findall(r"\{\$[A-Z0-9_.]+\}", text))
        assert used - set(defined) == set(), template["template"]
        for macro, value in defined.items():
            name = macro.removeprefix("{$KVM.").removesuffix("}").lower()
            if name in thresholds:
                assert value == str(thresholds[name]), macro


def test_item_keys_are_unique_and_triggers_name_existing_items(export: dict[str, Any]) -> None:
    for template in export["templates"]:
        keys = [item["key"] for item in template["items"]]
        keys += [rule["key"] for rule in template.get("discovery_rules", [])]
        keys += [p["key"] for rule in template.get("discovery_rules", []) for p in rule["item_prototypes"]]
        assert len(keys) == len(set(keys)), template["template"]
        name = template["template"]
        for trigger in all_triggers(export):
            for key in re.findall(rf"/{re.escape(name)}/([a-z0-9_.]+(?:\[[^\]]*\])?)", trigger["expression"]):
                assert key in keys, (trigger["name"], key)


@pytest.mark.slow  # runs the generator as a user would
def test_a_changed_threshold_changes_the_macro(tmp_path: Path) -> None:
    config = tmp_path / "my.yml"
    config.write_text("thresholds:\n  zfs_capacity_ratio: 0.95\n")
    out = tmp_path / "template.yaml"
    subprocess.run([sys.executable, str(ZABBIX / "generate.py"), "--config", str(config), "--out", str(out)],
                   check=True)
    macros = {macro["macro"]: macro["value"] for template in yaml.safe_load(out.read_text())["zabbix_export"][
        "templates"] for macro in template["macros"]}
    assert macros["{$KVM.ZFS_CAPACITY_RATIO}"] == "0.95"


def test_compressed_windows_for_the_tests() -> None:
    compressed = GENERATOR.compress("max(/T/k,15m)=0 and min(/T/k,1w)>0", 60)
    assert compressed == "max(/T/k,15s)=0 and min(/T/k,10080s)>0"
    assert GENERATOR.compress("last(/T/k,#3)=0", 60) == "last(/T/k,#3)=0"


def test_a_trigger_naming_an_unknown_item_or_threshold_is_refused() -> None:
    model = sys.modules["template_model"]
    config = load_config(None)
    up = model.Item(name="up", title="up", family="kvm_up")
    cases = (("last(@nope)=0", "no item 'nope'"), ("last(@up)>$no_such", "unknown threshold"))
    for expression, message in cases:
        template = model.Template(name="T", title="T", description="", connection="T", keys="t",
                                  default_port=1, down_alert="KvmExporterDown", items=(up,),
                                  triggers=(model.Trigger(alert="LibvirtDown", expression=expression),))
        with pytest.raises(SystemExit, match=message):
            GENERATOR.Builder(template, config, 1).build()


def test_state_and_reason_codes_follow_libvirts(export: dict[str, Any]) -> None:
    """libvirt's reason codes are per state: the value map names state x 100 + reason."""
    maps = {m["name"]: {int(v["value"]): v["newvalue"] for v in m["mappings"]}
            for template in export["templates"] for m in template["valuemaps"]}
    reasons = maps["libvirt domain state and reason"]
    assert reasons[305] == "paused: ioerror"
    assert reasons[503] == "shutoff: crashed"
    assert reasons[601] == "crashed: panicked"
    assert maps["libvirt domain state"][5] == "shut off"
