"""Command-line options declared once, next to what uses them.

A collector lists its `Option`s in its `register(...)` call; the core options (web, paths,
libvirt URI, timeouts, logging) are listed in `exporter.settings`. `exporter.cli` builds the
parser from both tables, so a flag, its default, its validation and its help live in one
place. A collector reads its value with `OPTION.of(settings)`, typed.

Parsers take the flag's text and raise ValueError with a message that says what is wrong.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from exporter.durations import parse_duration

if TYPE_CHECKING:
    from exporter.settings import Settings

T = TypeVar("T")


@dataclass(frozen=True)
class Option(Generic[T]):
    """`--<flag>`: `default` typed; `parse` turns the flag's text into a value (None: the
    text itself; a bool default makes a `--[no-]<flag>` switch); `shown` is the default as a
    user writes it (`60s`); `repeatable` collects every use into a tuple; `under_rootfs`
    makes the default `<path.rootfs>/<default>`; `dest` names the Settings field of a core
    option."""

    flag: str
    default: T
    help: str
    parse: Callable[[str], T] | None = None
    shown: str = ""
    choices: tuple[str, ...] = ()
    repeatable: bool = False
    under_rootfs: bool = False
    dest: str = ""

    @property
    def key(self) -> str:
        return self.dest or self.flag.replace(".", "_").replace("-", "_")

    def of(self, settings: Settings) -> T:
        if self.flag in settings.options:
            return cast(T, settings.options[self.flag])
        if self.under_rootfs:
            return cast(T, str(Path(settings.path_rootfs) / str(self.default)))
        return self.default

    def describe(self) -> str:
        if self.under_rootfs:
            return f"{self.help} (default <path.rootfs>/{self.default})"
        shown = self.shown or ("" if self.default in ("", (), None) else str(self.default))
        return f"{self.help} (default {shown})" if shown and not isinstance(self.default, bool) else self.help


def duration(text: str) -> float:
    return parse_duration(text)


def argparse_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An option parser as argparse's `type=`: its ValueError becomes argparse's error, which
    the CLIs print in one line and exit 2."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"must be a whole number >= 1, not {text!r}")
    return value


def regex(text: str) -> str:
    try:
        re.compile(text)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {text!r} ({exc})") from exc
    return text
