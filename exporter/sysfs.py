"""Reading sysfs-style trees (one value per file) under an injectable root.

Optional files are normal: a missing file is None, not an error. A file that exists but
cannot be read or parsed (EINVAL, EAGAIN, EIO, garbage) is None and is counted, so one
broken sensor costs its own series and shows in `kvm_collector_read_errors_total`.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

_INTEGER = re.compile(r"-?[0-9]{1,40}")
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY


class NotARegularFile(OSError):
    """A FIFO, socket or device where a sysfs/procfs/config file was expected."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(errno.ESPIPE, "not a regular file", str(path))


_CHUNK = 1 << 16


def read_file(path: str | Path, limit: int = -1) -> bytes:
    """Read a file that must never block the reader: opened non-blocking and refused unless
    it is a regular file (sysfs and procfs attributes are), so a FIFO planted in a hwmon or
    config directory costs that one file, not the whole collector."""
    fd = os.open(path, _OPEN_FLAGS)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotARegularFile(path)
        # read(2) until EOF or `limit`: procfs hands out a page per call; no file object
        chunks = []
        left = limit
        while left != 0:
            chunk = os.read(fd, _CHUNK if left < 0 else min(left, _CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            if left > 0:
                left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(path: str | Path) -> str:
    """`read_file` decoded; bytes that are not UTF-8 stay as surrogates, the way os.listdir()
    names them, so a name read from a file matches the same name listed in a directory."""
    return read_file(path).decode("utf-8", "surrogateescape")


def parse_int(text: str) -> int:
    """Parse a sysfs integer ('42\\n'); raise ValueError on anything else (Python's int()
    would also take '1_000', '+7' or non-ASCII digits)."""
    value = text.strip()
    if not _INTEGER.fullmatch(value):
        raise ValueError(f"not an integer: {text[:40]!r}")
    return int(value)


class SysfsReader:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._root = str(self.root).rstrip("/")  # "/" -> "": at() adds the slash
        self.errors = 0

    def path(self, relative: str | Path) -> Path:
        return self.root / relative

    def at(self, relative: str) -> str:
        """`path()` as a string, for loops over many attributes (no Path object per file)."""
        return f"{self._root}/{relative}"

    def read_str(self, path: str | Path, invalid_is_missing: bool = False) -> str | None:
        """`invalid_is_missing`: EINVAL means "no value now" (a network link's carrier or
        speed while it is down), not a broken file."""
        try:
            raw = read_file(path, 4096)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
                return None  # vanished between listing and reading: optional
            if invalid_is_missing and exc.errno == errno.EINVAL:
                return None
            self.errors += 1
            return None
        try:
            return raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            self.errors += 1
            return None

    def read_int(self, path: str | Path, invalid_is_missing: bool = False) -> int | None:
        text = self.read_str(path, invalid_is_missing)
        if text is None:
            return None
        try:
            return parse_int(text)
        except ValueError:
            self.errors += 1
            return None

    def list_dir(self, path: Path) -> list[str]:
        try:
            return sorted(os.listdir(path))
        except OSError:
            return []
