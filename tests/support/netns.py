"""Network namespaces for tests: created with unique names, torn down with everything in
them. The exporter reads a namespace the way it reads a container's host mounts: a sysfs
mounted from inside the namespace (`--path.sysfs`) and `/proc/<pid>` of a process living
there (`--path.procfs`)."""

from __future__ import annotations

import subprocess
import tempfile
import uuid
from pathlib import Path


def run(*argv: str) -> str:
    """Stdout of a command that must succeed (within a minute); its stderr in the failure."""
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: exit {result.returncode}: {result.stderr.strip()}")
    return result.stdout


class Netns:
    def __init__(self, hint: str) -> None:
        self.name = f"kvmxt-{hint}-{uuid.uuid4().hex[:6]}"
        run("ip", "netns", "add", self.name)
        self.ip("link", "set", "lo", "up")
        self._sysfs: Path | None = None
        self._holder: subprocess.Popen[bytes] | None = None

    def ip(self, *args: str) -> str:
        return run("ip", "-n", self.name, *args)

    def exec(self, *argv: str) -> str:
        return run("ip", "netns", "exec", self.name, *argv)

    def sysctl(self, setting: str) -> None:
        self.exec("sysctl", "-q", "-w", setting)

    @property
    def sysfs(self) -> Path:
        """A sysfs mounted from inside the namespace: its class/net shows the namespace's links."""
        if self._sysfs is None:
            self._sysfs = Path(tempfile.mkdtemp(prefix=f"{self.name}-sys-"))
            run("nsenter", f"--net=/run/netns/{self.name}", "mount", "-t", "sysfs", "sysfs", str(self._sysfs))
        return self._sysfs

    @property
    def procfs(self) -> Path:
        """/proc/<pid> of a process in the namespace: its net/snmp is the namespace's."""
        if self._holder is None:
            self._holder = subprocess.Popen(["ip", "netns", "exec", self.name, "sleep", "infinity"])
        return Path(f"/proc/{self._holder.pid}")

    def close(self) -> None:
        if self._holder is not None:
            self._holder.kill()
            self._holder.wait()
        if self._sysfs is not None:
            subprocess.run(["umount", str(self._sysfs)], check=False)
            self._sysfs.rmdir()
        subprocess.run(["ip", "netns", "del", self.name], check=False)
