"""libvirt's configuration directory (fault config_corruption): does every file parse, when
did it change, and do the domain definitions on disk match what libvirt has defined.

Only `*.xml` and `*.conf` files are read (never `secrets/*.base64` or keys). A file is read
again only when its inode, size or mtime changed; a content change counts once.
"""

from __future__ import annotations

import hashlib
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from exporter.sysfs import read_file

# libvirt's virConf syntax: `name = value`, value a quoted string, an integer or a list.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_BLANK = re.compile(r"[ \t]*")
_NUMBER = re.compile(r"-?\d+(?![\w.])")
_STRINGS = (re.compile(r'"""(.*?)"""', re.DOTALL), re.compile(r'"([^"\n]*)"'), re.compile(r"'([^'\n]*)'"))

# Attributes libvirt writes to disk but hides from read-only XMLDesc (VIR_DOMAIN_XML_SECURE).
SECURE_ATTRIBUTES = ("passwd",)


class ConfSyntaxError(ValueError):
    pass


class _ConfParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str) -> ConfSyntaxError:
        line = self.text.count("\n", 0, self.pos) + 1
        return ConfSyntaxError(f"line {line}: {message}")

    def skip(self, newlines: bool) -> None:
        """Skip blanks and comments (and newlines, between entries or inside a list)."""
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in " \t\r" or (newlines and char == "\n"):
                self.pos += 1
            elif char == "#":
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end
            else:
                return

    def entries(self) -> dict[str, object]:
        values: dict[str, object] = {}
        while True:
            self.skip(newlines=True)
            if self.pos >= len(self.text):
                return values
            name = _NAME.match(self.text, self.pos)
            if name is None:
                raise self.error(f"expected a setting name, found {self._found()}")
            self.pos = name.end()
            self.skip(newlines=False)
            if not self.text.startswith("=", self.pos):
                raise self.error(f"expected '=' after a setting name, found {self._found()}")
            self.pos += 1
            self.skip(newlines=False)
            values[name.group()] = self.value()
            self.skip(newlines=False)
            if self.pos < len(self.text) and self.text[self.pos] not in "\n;":
                raise self.error(f"expected the end of the line after the value of {name.group()!r}, "
                                 f"found {self._found()}")
            self.pos += 1

    def value(self) -> object:
        for pattern in _STRINGS:
            if match := pattern.match(self.text, self.pos):
                self.pos = match.end()
                return match.group(1)
        if match := _NUMBER.match(self.text, self.pos):
            self.pos = match.end()
            return int(match.group())
        if self.text.startswith("[", self.pos):
            return self.list()
        raise self.error(f"expected a quoted string, a number or a list, found {self._found()}")

    def list(self) -> list[object]:
        start = self.pos
        self.pos += 1
        items: list[object] = []
        while True:
            self._skip_in_list(start)
            if self.text.startswith("]", self.pos):
                self.pos += 1
                return items
            items.append(self.value())
            self._skip_in_list(start)
            if self.text.startswith(",", self.pos):
                self.pos += 1
            elif not self.text.startswith("]", self.pos):
                raise self.error(f"expected ',' or ']' in a list, found {self._found()}")

    def _skip_in_list(self, start: int) -> None:
        self.skip(newlines=True)
        if self.pos >= len(self.text):
            self.pos = start
            raise self.error("a list opened here is never closed with ']'")

    def _found(self) -> str:
        """What stands at the error, by kind only: the text may be a password
        (`vnc_password = SECRET` without quotes) and must never reach the log."""
        if self.pos >= len(self.text):
            return "end of file"
        char = self.text[self.pos]
        column = self.pos - self.text.rfind("\n", 0, self.pos)
        kind = ("end of line" if char == "\n" else "a letter" if char.isalpha() else
                "a digit" if char.isdigit() else "a quote" if char in "\"'" else "a symbol")
        return f"{kind} at column {column}"


def parse_libvirt_conf(text: str) -> dict[str, object]:
    """Parse `qemu.conf`/`libvirtd.conf` syntax; raises ConfSyntaxError naming the line."""
    return _ConfParser(text).entries()


def check_xml(data: bytes) -> None:
    """Raises ValueError if the document is not well-formed XML."""
    try:
        ET.fromstring(data)
    except ET.ParseError as exc:
        raise ValueError(f"XML: {exc}") from exc


def normalized_domain_xml(text: str | bytes) -> str:
    """Canonical form for comparing definitions: no comments, no layout whitespace, sorted
    attributes, secure attributes dropped (they never reach a read-only connection).
    Raises ValueError if the document is not well-formed."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"XML: {exc}") from exc
    for element in root.iter():
        for name in SECURE_ATTRIBUTES:
            element.attrib.pop(name, None)
    return ET.canonicalize(ET.tostring(root, encoding="unicode"), strip_text=True)


def file_kind(relative: str) -> str | None:
    if relative.endswith(".conf"):
        return "conf"
    if relative.endswith(".xml"):
        return "xml"
    return None


def check_content(kind: str, data: bytes) -> str:
    """'' if the file parses, else the reason."""
    try:
        if kind == "xml":
            check_xml(data)
        else:
            parse_libvirt_conf(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return f"not UTF-8: {exc}"
    except ValueError as exc:
        return str(exc)
    return ""


@dataclass
class ConfigFile:
    path: str  # relative to the config dir
    kind: str
    signature: tuple[int, int, int]
    digest: str
    error: str  # "" when the file parses
    mtime: float
    changes: int = 0
    readable: bool = True


@dataclass
class ConfigScan:
    files: dict[str, ConfigFile] = field(default_factory=dict)
    newly_invalid: list[ConfigFile] = field(default_factory=list)


class ConfigWatcher:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files: dict[str, ConfigFile] = {}

    def scan(self) -> ConfigScan:
        """Check every new or changed file; raises OSError if the directory is unreadable."""
        os.stat(self.directory)
        scan = ConfigScan()
        for relative, stat in self._walk():
            kind = file_kind(relative)
            if kind is None:
                continue
            signature = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
            known = self.files.get(relative)
            if known is None or known.signature != signature:
                current = self._check(relative, kind, signature, stat.st_mtime, known)
                if current.readable and current.error and (
                        known is None or not known.error or known.digest != current.digest):
                    scan.newly_invalid.append(current)
                known = current
            scan.files[relative] = known
        self.files = scan.files
        return scan

    def _walk(self) -> list[tuple[str, os.stat_result]]:
        found = []
        for root, dirs, names in os.walk(self.directory):
            dirs.sort()
            for name in sorted(names):
                path = os.path.join(root, name)
                try:
                    stat = os.stat(path)  # follows autostart symlinks to their domain file
                except OSError:
                    stat = os.lstat(path)  # a dangling link: checked, and reported unreadable
                found.append((os.path.relpath(path, self.directory), stat))
        return found

    def _check(self, relative: str, kind: str, signature: tuple[int, int, int], mtime: float,
               known: ConfigFile | None) -> ConfigFile:
        try:
            data = read_file(self.directory / relative)
        except OSError as exc:
            # Not corruption: the exporter lacks permission (qemu.conf and domain XML are
            # 0600 root), or a dangling link. Reported as unreadable, never as invalid.
            changes = known.changes if known else 0
            return ConfigFile(relative, kind, signature, known.digest if known else "",
                              f"unreadable: {exc.strerror or exc}", mtime, changes, readable=False)
        digest, error = hashlib.sha256(data).hexdigest(), check_content(kind, data)
        changes = known.changes if known else 0
        if known is not None and known.digest and known.digest != digest:
            changes += 1
        return ConfigFile(relative, kind, signature, digest, error, mtime, changes)


def domain_files(files: dict[str, ConfigFile]) -> dict[str, ConfigFile]:
    """domain name -> its definition file `qemu/<name>.xml` (autostart links left out)."""
    return {
        Path(path).stem: file
        for path, file in files.items()
        if file.kind == "xml" and Path(path).parent == Path("qemu")
    }
