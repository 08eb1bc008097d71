"""Metric families and their exposition in the Prometheus text and OpenMetrics formats.

client_python's `Metric`/`Sample` objects and `generate_latest` cost a few microseconds per
sample, which at a thousand domains (~100k samples) is most of the scrape budget. A family
here is a name, a help sentence, a type, its label names and a list of (label values, value)
rows; rendering keeps each series' escaped `name{labels} ` across scrapes and writes lines
with plain string joins. The output is checked by `promtool check metrics` in the tests.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

PREFIX = "kvm_"

Kind = Literal["gauge", "counter", "histogram"]

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


@dataclass(slots=True)
class Family:
    """One metric family. Counter names are given without `_total`; it is added on output."""

    name: str
    doc: str
    kind: Kind
    labelnames: tuple[str, ...] = ()
    rows: list[tuple[Sequence[str], float]] = field(default_factory=list)

    def add(self, labelvalues: Sequence[str], value: float) -> None:
        self.rows.append((labelvalues, value))


def gauge(name: str, doc: str, labelnames: Sequence[str] = ()) -> Family:
    return Family(PREFIX + name, doc, "gauge", tuple(labelnames))


def counter(name: str, doc: str, labelnames: Sequence[str] = ()) -> Family:
    return Family(PREFIX + name, doc, "counter", tuple(labelnames))


def histogram(name: str, doc: str, labelnames: Sequence[str] = ()) -> Family:
    """A histogram family: add each series with `observe_histogram`."""
    return Family(PREFIX + name, doc, "histogram", tuple(labelnames))


def observe_histogram(family: Family, labelvalues: Sequence[str], bounds: Sequence[float],
                      counts: Sequence[int], total: float) -> None:
    """One series of a histogram: `counts[i]` observations fell in (bounds[i-1], bounds[i]],
    the last count above the last bound; `total` is their sum. Rows carry the sample's suffix
    and `le` after the label values."""
    cumulative = 0
    values = tuple(labelvalues)
    for bound, count in zip((*bounds, math.inf), counts, strict=True):
        cumulative += count
        family.rows.append(((*values, "_bucket", format_value(bound)), cumulative))
    family.rows.append(((*values, "_sum", ""), total))
    family.rows.append(((*values, "_count", ""), cumulative))


def single(family: Family, value: float, *labelvalues: str) -> Family:
    family.add(labelvalues, value)
    return family


_SURROGATE = re.compile("[\ud800-\udfff]")


def _surrogate_text(match: re.Match[str]) -> str:
    code = ord(match.group())
    # os.listdir() & co. turn each byte that is not UTF-8 into U+DC80..U+DCFF: show the byte.
    return f"\\\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else "\ufffd"


def escape_label_value(value: str) -> str:
    """Escape for the exposition formats. Names that are not UTF-8 (a file `bad\\xff.conf`,
    a link named with a raw byte) get the byte as the four characters `\\xff`, so the output
    stays valid UTF-8."""
    escaped = value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    if not escaped.isascii():
        escaped = _SURROGATE.sub(_surrogate_text, escaped)
    return escaped


def _escape_help(doc: str) -> str:
    return doc.replace("\\", r"\\").replace("\n", r"\n")


def format_value(value: float) -> str:
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return str(int(value))
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class SeriesNames:
    """`name{label="value",...} ` of each series rendered, kept across scrapes: the label
    sets of a host's domains, disks and vNICs are the same scrape after scrape, so each is
    escaped and joined once. Bounded: emptied when it holds more than `limit` series, or
    more than twice the series of the last render (domains that came and went)."""

    def __init__(self, limit: int = 1 << 19) -> None:
        self._tables: dict[str, dict[tuple[str, ...], str]] = {}  # sample name -> values -> text
        self._size = 0
        self._limit = limit

    def table(self, sample_name: str) -> dict[tuple[str, ...], str]:
        found = self._tables.get(sample_name)
        if found is None:
            found = self._tables[sample_name] = {}
        return found

    def make(self, table: dict[tuple[str, ...], str], sample_name: str, labelnames: tuple[str, ...],
             labelvalues: Sequence[str]) -> str:
        values = tuple(labelvalues)
        if len(values) != len(labelnames):
            raise ValueError(f"{sample_name}: {len(values)} label values for {labelnames}")
        if self._size >= self._limit:
            self.clear()
        labels = ",".join(f'{n}="{escape_label_value(v)}"' for n, v in zip(labelnames, values, strict=True))
        text = f"{sample_name}{{{labels}}} "
        if type(labelvalues) is tuple:  # lists are not hashable: rendered, not kept
            table[values] = text
            self._size += 1
        return text

    def clear(self) -> None:
        for each in self._tables.values():
            each.clear()
        self._size = 0

    def rendered(self, series: int) -> None:
        """A render wrote `series` series: forget names of series that are long gone."""
        if self._size > 2 * series + 1024:
            self.clear()


_SERIES_NAMES = SeriesNames()


def render(families: Iterable[Family], openmetrics: bool = False,
           names: SeriesNames = _SERIES_NAMES) -> str:
    """Render families; families with the same name are merged (first help/type wins)."""
    merged: dict[str, Family] = {}
    copied: set[str] = set()  # merged families are copies: the callers' stay as they were
    for family in families:
        existing = merged.get(family.name)
        if existing is None:
            merged[family.name] = family
            continue
        if family.name not in copied:
            copied.add(family.name)
            existing = merged[family.name] = Family(
                existing.name, existing.doc, existing.kind, existing.labelnames, list(existing.rows))
        existing.rows.extend(family.rows)
    out: list[str] = []
    for family in merged.values():
        _render_family(family, openmetrics, names, out)
    names.rendered(len(out))
    if openmetrics:
        out.append("# EOF\n")
    return "".join(out)


def _render_histogram(family: Family, names: SeriesNames, out: list[str]) -> None:
    out.append(f"# HELP {family.name} {_escape_help(family.doc)}\n")
    out.append(f"# TYPE {family.name} histogram\n")
    bucket_labels = (*family.labelnames, "le")
    for row, value in family.rows:
        *labelvalues, suffix, le = row
        sample = family.name + suffix
        table = names.table(sample)
        key = (*labelvalues, le) if suffix == "_bucket" else tuple(labelvalues)
        series = table.get(key)
        if series is None:
            labelnames = bucket_labels if suffix == "_bucket" else family.labelnames
            series = (names.make(table, sample, labelnames, key) if labelnames else f"{sample} ")
        out.append(f"{series}{format_value(value)}\n")


def _render_family(family: Family, openmetrics: bool, names: SeriesNames, out: list[str]) -> None:
    if family.kind == "histogram":
        _render_histogram(family, names, out)
        return
    is_counter = family.kind == "counter"
    sample_name = family.name + "_total" if is_counter else family.name
    header_name = family.name if (openmetrics or not is_counter) else sample_name
    out.append(f"# HELP {header_name} {_escape_help(family.doc)}\n")
    out.append(f"# TYPE {header_name} {family.kind}\n")
    labelnames = family.labelnames
    if not labelnames:
        out.extend(f"{sample_name} {format_value(value)}\n" for _, value in family.rows)
        return
    table = names.table(sample_name)
    known = table.get
    append = out.append
    for labelvalues, value in family.rows:
        series = known(labelvalues) if type(labelvalues) is tuple else None
        if series is None:
            series = names.make(table, sample_name, labelnames, labelvalues)
        append(f"{series}{value if type(value) is int else format_value(value)}\n")
