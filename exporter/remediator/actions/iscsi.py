"""Log an iSCSI node back in (`iscsiadm -m node -T TARGET -p PORTAL --login`), once its
node record is seen to exist and no session to it is."""

from __future__ import annotations

import re

from exporter.commands import CommandError, run_command
from exporter.remediator.actions import DRY_RUN, FAILED, NOT_NEEDED, REFUSED, SUCCEEDED, Context, Outcome

_SESSION = re.compile(r"^\S+: \[(\d+)\] (\S+?)(?:,\d+)? (\S+)")
NO_OBJECTS = 21  # iscsiadm: "No active sessions" / "No records found"
COMMAND_SECONDS = 30.0


def parse_sessions(text: str) -> set[tuple[str, str]]:
    """(target, portal) of each line of `iscsiadm -m session`:
    `tcp: [3] 192.0.2.7:3260,1 iqn.2017-10.com.example:vms (non-flash)`."""
    found = set()
    for line in text.splitlines():
        match = _SESSION.match(line)
        if match:
            found.add((match.group(3), match.group(2)))
    return found


def _portal(portal: str) -> str:
    return portal.split(",", 1)[0]


async def _sessions(ctx: Context) -> set[tuple[str, str]]:
    status, out = await run_command([ctx.iscsiadm, "-m", "session"], COMMAND_SECONDS)
    if status not in (0, NO_OBJECTS):
        raise CommandError(f"exit_{status}")
    return parse_sessions(out) if status == 0 else set()


async def iscsi_login(ctx: Context, target: str, portal: str, iface: str = "") -> Outcome:
    node = ["-m", "node", "-T", target, "-p", _portal(portal), *(["-I", iface] if iface else [])]
    try:
        if (target, _portal(portal)) in await _sessions(ctx):
            return Outcome(NOT_NEEDED, f"a session to {target} at {portal} exists")
        status, _ = await run_command([ctx.iscsiadm, *node], COMMAND_SECONDS)
        if status != 0:
            return Outcome(REFUSED, f"no node record for {target} at {portal} (iscsiadm exit {status})")
        if ctx.dry_run:
            return Outcome(DRY_RUN, f"would log in to {target} at {portal}")
        status, _ = await run_command([ctx.iscsiadm, *node, "--login"], COMMAND_SECONDS)
        if status != 0:
            return Outcome(FAILED, f"login to {target} at {portal} failed (iscsiadm exit {status})")
        if (target, _portal(portal)) not in await _sessions(ctx):
            return Outcome(FAILED, f"logged in to {target} at {portal}, but no session shows")
        return Outcome(SUCCEEDED, f"logged in to {target} at {portal}")
    except CommandError as exc:
        return Outcome(FAILED, f"iscsiadm: {exc}")
