"""Run an allow-listed program, or an Ansible playbook, with arguments made from validated
labels. Never through a shell: each argument is one argv entry, whatever it contains."""

from __future__ import annotations

import json
import re

from exporter.commands import CommandError, run_command
from exporter.remediator.actions import DRY_RUN, FAILED, NOT_NEEDED, SUCCEEDED, Context, Outcome

_RECAP = re.compile(
    r"^\S+\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)(?:\s+skipped=(\d+))?", re.M)


def render(template: str, labels: dict[str, str]) -> str:
    """A `{label}` template filled with (already validated) label values."""
    return template.format_map(labels)


async def run_program(
    ctx: Context, command: tuple[str, ...], labels: dict[str, str], timeout: float
) -> Outcome:
    argv = [command[0], *(render(arg, labels) for arg in command[1:])]
    if ctx.dry_run:
        return Outcome(DRY_RUN, f"would run {argv}")
    try:
        status, _ = await run_command(argv, timeout)
    except CommandError as exc:
        return Outcome(FAILED, f"{command[0]}: {exc}")
    if status != 0:
        return Outcome(FAILED, f"{command[0]} exited {status}")
    return Outcome(SUCCEEDED, f"ran {argv}")


def parse_recap(text: str) -> tuple[int, int, int, int, int] | None:
    """ok, changed, unreachable, failed, skipped of the PLAY RECAP's host line."""
    match = _RECAP.search(text)
    if match is None:
        return None
    return int(match[1]), int(match[2]), int(match[3]), int(match[4]), int(match[5] or 0)


async def run_playbook(
    ctx: Context, playbook: str, extra_vars: dict[str, str], labels: dict[str, str], timeout: float
) -> Outcome:
    """`ansible-playbook` on this host (local connection); dry-run is Ansible's check mode."""
    variables = {
        "libvirt_uri": ctx.libvirt_uri,
        "ansible_python_interpreter": ctx.python,
        **{name: render(value, labels) for name, value in extra_vars.items()},
    }
    argv = [
        ctx.ansible_playbook,
        playbook,
        "--inventory",
        "localhost,",
        "--connection",
        "local",
        "--extra-vars",
        json.dumps(variables),
    ]
    if ctx.dry_run:
        argv.append("--check")
    try:
        status, out = await run_command(argv, timeout)
    except CommandError as exc:
        return Outcome(FAILED, f"ansible-playbook: {exc}")
    recap = parse_recap(out)
    if status != 0 or recap is None:
        return Outcome(
            FAILED,
            f"ansible-playbook exited {status}"
            + (f", recap ok/changed/unreachable/failed {recap}" if recap else ""),
        )
    changed, skipped = recap[1], recap[4]
    if ctx.dry_run:  # modules without check mode support are skipped, and cannot tell
        return Outcome(DRY_RUN, f"check mode: {changed} task(s) would change, {skipped} skipped")
    return Outcome(SUCCEEDED if changed else NOT_NEEDED, f"ansible-playbook: {changed} task(s) changed")
