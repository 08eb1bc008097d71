"""The playbooks file (`--config.file`): which alert gets which action, and the safety limits.

Validated as a whole: every problem is collected and reported at once (the caller exits 2).
A playbook matches alerts by Alertmanager-style label matchers (`alertname="VmCrashed"`,
`severity=~"critical|warning"`); the first playbook that matches an alert is the one used.
"""

from __future__ import annotations

import functools
import os
import re
import string
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from exporter.durations import parse_duration
from exporter.remediator.labels import PATTERNS

# the labels each built-in action reads (programs read the ones their templates name)
ACTION_LABELS: dict[str, tuple[str, ...]] = {
    "start_domain": ("domain",),
    "resume_domain": ("domain",),
    "start_network": ("network",),
    "start_pool": ("pool",),
    "link_up": (),  # the one named by `link_label`
    "iscsi_login": ("target", "portal"),
    "ansible_playbook": (),
    "exec": (),
}
# labels an action uses when the alert has them (validated all the same)
OPTIONAL_LABELS: dict[str, tuple[str, ...]] = {"iscsi_login": ("iface",)}
LINK_LABELS = ("bridge", "bond", "device", "interface")
RECOVERY = ("resolved", "action")
_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*')
_TOP_KEYS = {"limits", "playbooks"}
_LIMIT_KEYS = {
    "concurrency",
    "queue",
    "action_timeout",
    "cooldown",
    "host_actions_per_hour",
    "global_actions_per_hour",
    "breaker_failures",
    "breaker_open_for",
}
_PLAYBOOK_KEYS = {
    "name",
    "matchers",
    "action",
    "recovered",
    "link_label",
    "min_free_bytes",
    "playbook",
    "extra_vars",
    "command",
    "timeout",
}


class ConfigError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str
    pattern: re.Pattern[str] | None = None

    def matches(self, labels: dict[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.pattern is not None:
            found = self.pattern.fullmatch(actual) is not None
            return found if self.op == "=~" else not found
        return (actual == self.value) == (self.op == "=")


@dataclass(frozen=True)
class Playbook:
    name: str
    matchers: tuple[Matcher, ...]
    action: str
    recovered: str = "resolved"  # "action": the fault is over when the action succeeded
    link_label: str = ""
    min_free_bytes: int = 64 << 20
    playbook: str = ""
    extra_vars: dict[str, str] = field(default_factory=dict)
    command: tuple[str, ...] = ()
    timeout: float | None = None

    def matches(self, labels: dict[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)

    @functools.cached_property
    def labels_used(self) -> tuple[str, ...]:
        """The labels this playbook's action reads, each validated before use (worked out
        once: the templates do not change)."""
        used = list(ACTION_LABELS[self.action])
        if self.link_label:
            used.append(self.link_label)
        for text in (*self.command[1:], *self.extra_vars.values()):
            used.extend(template_fields(text))
        return tuple(dict.fromkeys(used))


@dataclass(frozen=True)
class Limits:
    concurrency: int = 4
    queue: int = 1000
    action_timeout: float = 120.0
    cooldown: float = 600.0
    host_actions_per_hour: int = 30
    global_actions_per_hour: int = 120
    breaker_failures: int = 3
    breaker_open_for: float = 3600.0


@dataclass(frozen=True)
class RemediatorConfig:
    limits: Limits
    playbooks: tuple[Playbook, ...]

    def playbook_for(self, labels: dict[str, str]) -> Playbook | None:
        return next((p for p in self.playbooks if p.matches(labels)), None)


def template_fields(text: str) -> list[str]:
    """The `{label}` fields of an argument template; ValueError for anything but plain names."""
    names = []
    for _, name, spec, conversion in string.Formatter().parse(text):
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValueError(f"template {text!r}: only plain {{label}} fields are allowed")
        names.append(name)
    return names


def parse_matcher(text: str) -> Matcher:
    match = _MATCHER.fullmatch(text)
    if match is None:
        raise ValueError(f'matcher {text!r} is not name="value" (or !=, =~, !~)')
    name, op, raw = match.groups()
    value = raw.encode().decode("unicode_escape") if "\\" in raw else raw
    if op in ("=~", "!~"):
        try:
            return Matcher(name, op, value, re.compile(value))
        except re.error as exc:
            raise ValueError(f"matcher {text!r}: bad regular expression: {exc}") from exc
    return Matcher(name, op, value)


def load_config(path: str) -> RemediatorConfig:
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ConfigError([f"{path}: {exc.strerror or exc}"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not YAML: {exc}"]) from exc
    try:
        return parse_config(raw, Path(path).parent)
    except ConfigError as exc:
        raise ConfigError([f"{path}: {problem}" for problem in exc.problems]) from None


def parse_config(raw: Any, base: Path = Path(".")) -> RemediatorConfig:
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise ConfigError(["the config must be a mapping with `playbooks` (and optionally `limits`)"])
    problems += [f"unknown key {key!r}" for key in sorted(set(raw) - _TOP_KEYS)]
    limits = _limits(raw.get("limits") or {}, problems)
    books = raw.get("playbooks")
    playbooks: list[Playbook] = []
    if not isinstance(books, list) or not books:
        problems.append("`playbooks` must be a non-empty list")
    else:
        for index, book in enumerate(books):
            found = _playbook(book, f"playbooks[{index}]", base, problems)
            if found is not None:
                playbooks.append(found)
        names = [p.name for p in playbooks]
        problems += [
            f"playbook name {n!r} used twice" for n in sorted({n for n in names if names.count(n) > 1})
        ]
    if problems:
        raise ConfigError(problems)
    return RemediatorConfig(limits, tuple(playbooks))


def _limits(raw: Any, problems: list[str]) -> Limits:
    if not isinstance(raw, dict):
        problems.append("`limits` must be a mapping")
        return Limits()
    problems += [f"limits: unknown key {key!r}" for key in sorted(set(raw) - _LIMIT_KEYS)]
    values: dict[str, Any] = {}
    for key in sorted(set(raw) & _LIMIT_KEYS):
        value = raw[key]
        try:
            if key in ("action_timeout", "cooldown", "breaker_open_for"):
                values[key] = parse_duration(str(value))
            elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"must be a whole number >= 1, not {value!r}")
            else:
                values[key] = value
        except ValueError as exc:
            problems.append(f"limits.{key}: {exc}")
    return Limits(**values)


def _playbook(raw: Any, where: str, base: Path, problems: list[str]) -> Playbook | None:
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be a mapping")
        return None
    before = len(problems)
    problems += [f"{where}: unknown key {key!r}" for key in sorted(set(raw) - _PLAYBOOK_KEYS)]
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        problems.append(f"{where}: `name` is required")
        name = where
    where = f"playbook {name!r}"
    action = raw.get("action")
    if action not in ACTION_LABELS:
        problems.append(f"{where}: action {action!r} is not one of {', '.join(ACTION_LABELS)}")
    matchers = _matchers(raw.get("matchers"), where, problems)
    fields: dict[str, Any] = {}
    recovered = raw.get("recovered", "resolved")
    if recovered not in RECOVERY:
        problems.append(f"{where}: recovered must be one of {', '.join(RECOVERY)}")
    fields["recovered"] = recovered
    if "timeout" in raw:
        try:
            fields["timeout"] = parse_duration(str(raw["timeout"]))
        except ValueError as exc:
            problems.append(f"{where}: timeout: {exc}")
    _action_fields(raw, action, where, base, fields, problems)
    if len(problems) > before or action not in ACTION_LABELS:
        return None
    book = Playbook(name=name, matchers=matchers, action=action, **fields)
    try:
        used = book.labels_used
    except ValueError as exc:
        problems.append(f"{where}: {exc}")
        return None
    problems += [
        f"{where}: label {label!r} has no validation pattern (known: {', '.join(PATTERNS)})"
        for label in used
        if label not in PATTERNS
    ]
    return book


def _matchers(raw: Any, where: str, problems: list[str]) -> tuple[Matcher, ...]:
    if not isinstance(raw, list) or not raw or not all(isinstance(m, str) for m in raw):
        problems.append(f'{where}: `matchers` must be a non-empty list like [alertname="VmCrashed"]')
        return ()
    found = []
    for text in raw:
        try:
            found.append(parse_matcher(text))
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
    if not any(m.name == "alertname" and m.op in ("=", "=~") for m in found):
        problems.append(
            f'{where}: needs an alertname="..." or alertname=~"..." matcher (playbooks act on named alerts)'
        )
    return tuple(found)


def _action_fields(
    raw: dict[str, Any], action: Any, where: str, base: Path, fields: dict[str, Any], problems: list[str]
) -> None:
    allowed = {
        "link_up": {"link_label"},
        "resume_domain": {"min_free_bytes"},
        "ansible_playbook": {"playbook", "extra_vars"},
        "exec": {"command"},
    }.get(action, set())
    for key in ("link_label", "min_free_bytes", "playbook", "extra_vars", "command"):
        if key in raw and key not in allowed:
            problems.append(f"{where}: {key!r} does not apply to action {action!r}")
    if action == "link_up":
        label = raw.get("link_label", "")
        if label not in LINK_LABELS:
            problems.append(f"{where}: link_label must be one of {', '.join(LINK_LABELS)}")
        fields["link_label"] = label
    elif action == "resume_domain" and "min_free_bytes" in raw:
        value = raw["min_free_bytes"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            problems.append(f"{where}: min_free_bytes must be a whole number of bytes")
        else:
            fields["min_free_bytes"] = value
    elif action == "ansible_playbook":
        _ansible_fields(raw, where, base, fields, problems)
    elif action == "exec":
        _exec_fields(raw, where, fields, problems)


def _ansible_fields(
    raw: dict[str, Any], where: str, base: Path, fields: dict[str, Any], problems: list[str]
) -> None:
    playbook = raw.get("playbook")
    if not isinstance(playbook, str) or not playbook:
        problems.append(f"{where}: `playbook` (a path) is required")
    else:
        resolved = Path(playbook) if Path(playbook).is_absolute() else base / playbook
        if not resolved.is_file():
            problems.append(f"{where}: playbook {str(resolved)!r} does not exist")
        fields["playbook"] = str(resolved)
    extra = raw.get("extra_vars", {})
    if not isinstance(extra, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in extra.items()
    ):
        problems.append(f"{where}: extra_vars must map names to strings")
    else:
        fields["extra_vars"] = dict(extra)


def _exec_fields(raw: dict[str, Any], where: str, fields: dict[str, Any], problems: list[str]) -> None:
    command = raw.get("command")
    if not isinstance(command, list) or not command or not all(isinstance(a, str) for a in command):
        problems.append(f"{where}: `command` must be a list: an absolute program path, then its arguments")
        return
    program = command[0]
    if not os.path.isabs(program):
        problems.append(f"{where}: program {program!r} must be an absolute path (no PATH lookup, no shell)")
    elif not (os.path.isfile(program) and os.access(program, os.X_OK)):
        problems.append(f"{where}: program {program!r} is not an executable file")
    if "{" in program:
        problems.append(f"{where}: the program path cannot be templated")
    fields["command"] = tuple(command)


def main(argv: list[str]) -> int:
    """`python -m exporter.remediator.config FILE`: check a playbooks file as the remediator
    would load it (Ansible's copy `validate`); every problem on stderr, exit 1."""
    if len(argv) != 1:
        print("usage: python -m exporter.remediator.config CONFIG_FILE", file=sys.stderr)
        return 2
    try:
        load_config(argv[0])
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
