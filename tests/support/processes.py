"""Stopping the daemons a test started: by their pids, last started first, and any child they
left behind."""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections.abc import Sequence

import psutil


def stop_all(processes: Sequence[subprocess.Popen[bytes]], seconds: float) -> None:
    """SIGTERM each (the last started first), SIGKILL what does not end within `seconds`,
    then kill the children that did not follow their parent."""
    children: list[psutil.Process] = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            children += psutil.Process(process.pid).children(recursive=True)
    for process in reversed(processes):
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(seconds)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
