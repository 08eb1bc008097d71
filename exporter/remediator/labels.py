"""What a label value may look like before an action uses it.

Labels come from the network (Alertmanager, or anyone holding the credentials) and end up
as libvirt names, interface names and program arguments, so each label an action reads has
a pattern, and a value outside it refuses the action. The patterns are narrower than what
libvirt or the kernel accept: no path separator, no leading dash or dot (an option or a
relative path), no whitespace or control characters, bounded length.
"""

from __future__ import annotations

import re

MAX_SHOWN = 200  # label values longer than this are cut in logs and the audit

PATTERNS: dict[str, re.Pattern[str]] = {
    # libvirt domain, pool and network names as the exporter exports them
    "domain": re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:+@-]{0,127}"),
    "pool": re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:+@-]{0,127}"),
    "network": re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:+@-]{0,127}"),
    # Linux interface names: at most 15 bytes (IFNAMSIZ - 1), never "." or ".."
    "device": re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,14}"),
    "bridge": re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,14}"),
    "bond": re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,14}"),
    "interface": re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,14}"),
    # iSCSI qualified names (RFC 3720: iqn., eui., naa.) and portals (host:port[,tpgt])
    "target": re.compile(
        r"(iqn\.[0-9]{4}-[0-9]{2}\.[A-Za-z0-9.-]+(:[A-Za-z0-9.:_-]+)?|eui\.[0-9A-Fa-f]{16}"
        r"|naa\.[0-9A-Fa-f]{16,32})"
    ),
    "portal": re.compile(
        r"([0-9.]{7,15}|\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9][A-Za-z0-9.-]{0,252})(:[0-9]{1,5})?(,[0-9]{1,5})?"
    ),
    "iface": re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}"),
    "instance": re.compile(r"[A-Za-z0-9_\[][A-Za-z0-9_.:\[\]-]{0,254}"),
}


class LabelError(ValueError):
    pass


def shown(value: str, limit: int = MAX_SHOWN) -> str:
    """A label value as logs show it: cut, so a 10 kB value cannot flood a log line."""
    return value if len(value) <= limit else f"{value[:limit]}...({len(value)} chars)"


def validated(labels: dict[str, str], names: tuple[str, ...]) -> dict[str, str]:
    """The named labels, each checked against its pattern; LabelError names every bad one."""
    problems = []
    for name in names:
        value = labels.get(name)
        if value is None:
            problems.append(f"label {name} missing")
        elif name not in PATTERNS:
            problems.append(f"label {name} has no pattern: it cannot be used by an action")
        elif not PATTERNS[name].fullmatch(value) or value in (".", ".."):
            problems.append(f"label {name}={shown(value)!r} is not a valid {name}")
    if problems:
        raise LabelError("; ".join(problems))
    return {name: labels[name] for name in names}
