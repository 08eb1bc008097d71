"""cgroup-v1 memory cgroups for OOM tests, removed even though the kernel keeps an
OOM-killed cgroup busy for a few seconds after its task died."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

MEMORY = Path("/sys/fs/cgroup/memory")


def create(hint: str, limit_bytes: int) -> Path:
    group = MEMORY / f"kvmxt-{hint}-{uuid.uuid4().hex[:6]}"
    group.mkdir()
    (group / "memory.limit_in_bytes").write_text(str(limit_bytes))
    return group


def remove(group: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while group.exists():
        try:
            group.rmdir()
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"{group} could not be removed") from None
            time.sleep(0.1)
