#!/usr/bin/env python3
"""A stand-in for smartctl that replays real `smartctl --json` captures, per device.

Configured by the directory in $FAKE_SMARTCTL_DIR:
  scan.json               printed for --scan-open
  devices/<name>.json     printed for /dev/<name>; exits with its smartctl.exit_status
  devices/<name>.hang     the run hangs (until it is killed)
  devices/<name>.garbage  the run prints these bytes instead of JSON
Every call is appended to calls.log (one line of arguments) and its pid to pids.log.

Faults: disk_smart.
"""

import json
import os
import sys
import time
from pathlib import Path

root = Path(os.environ["FAKE_SMARTCTL_DIR"])
args = sys.argv[1:]
with open(root / "calls.log", "a") as log:
    log.write(" ".join(args) + "\n")
with open(root / "pids.log", "a") as log:
    log.write(f"{os.getpid()}\n")
if "--scan-open" in args:
    sys.stdout.write((root / "scan.json").read_text())
    sys.exit(0)
positional = [a for i, a in enumerate(args) if not a.startswith("-") and args[i - 1] != "--device"]
name = Path(positional[-1]).name
devices = root / "devices"
if (devices / f"{name}.hang").exists():
    time.sleep(3600)
if (devices / f"{name}.garbage").exists():
    sys.stdout.buffer.write((devices / f"{name}.garbage").read_bytes())
    sys.exit(4)
report = (devices / f"{name}.json").read_text()
sys.stdout.write(report)
sys.exit(json.loads(report).get("smartctl", {}).get("exit_status", 0))
