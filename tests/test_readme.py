"""The README lists every flag and every metric the exporter can emit."""

from __future__ import annotations

import re
from pathlib import Path

from support.domstats_fixtures import FIXTURES
from support.families import every_family_name

from exporter.cli import build_parser

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_every_metric_is_documented() -> None:
    golden = set(re.findall(r"^# TYPE (\S+)", (FIXTURES / "e2e-output.prom").read_text(), re.M))
    missing = sorted(name for name in every_family_name() | golden if f"`{name}`" not in README)
    assert not missing


def test_every_flag_is_documented() -> None:
    flags = {option for action in build_parser()._actions for option in action.option_strings
             if option.startswith("--") and option not in ("--help",)}

    def documented(flag: str) -> bool:
        negatable = flag.removeprefix("--no-").removeprefix("--")
        return f"`{flag}`" in README or f"`--[no-]{negatable}`" in README

    missing = sorted(flag for flag in flags if not documented(flag))
    assert not missing
