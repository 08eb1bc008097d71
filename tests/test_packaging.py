"""Every Python package under exporter/ is listed in pyproject.toml (they are listed, not
discovered, because discovery would walk the symlink loops of the sysfs fixtures)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_every_package_is_listed() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "exporter").rglob("__init__.py")}
    assert listed == found
