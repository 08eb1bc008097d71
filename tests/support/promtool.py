"""Run `promtool check metrics` on exposition text (promtool comes from Debian's prometheus)."""

from __future__ import annotations

import shutil
import subprocess


def check_metrics(text: str) -> str:
    """Return promtool's complaints ('' when clean); fail loudly if promtool is missing."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: install Debian's prometheus package (see .ci/run)"
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                            text=True, timeout=60)
    return (result.stdout + result.stderr).strip() if result.returncode else ""
