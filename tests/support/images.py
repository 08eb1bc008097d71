"""Disk images for tests: real qcow2 files made by qemu-img, and damage done to them."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path


def qcow2(path: Path) -> Path:
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "16M"], check=True)
    path.chmod(0o666)
    return path


def damage_refcount_table(path: Path) -> None:
    """Zero the first refcount table entry (its offset is in header bytes 48-55)."""
    with path.open("r+b") as image:
        offset = struct.unpack(">Q", image.read(56)[48:56])[0]
        image.seek(offset)
        image.write(bytes(8))
