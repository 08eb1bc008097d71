"""Bring an administratively down link back up: a bridge or bond port, or a link named by
the alert, over rtnetlink (what `ip link set DEV up` does).

Only links that are admin-down are touched. A link that is up but has no carrier is a
cable, switch or peer problem that no command on this host fixes: refused, so it goes to a
human. With `--net.namespace` the links are those of that namespace (a container's or a
test's), entered by the one short-lived thread that talks netlink.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from typing import TypeVar

from exporter.collectors.network.netlink import NetlinkLink, dump_links, set_link_flags
from exporter.remediator.actions import DRY_RUN, FAILED, NOT_NEEDED, REFUSED, SUCCEEDED, Context, Outcome

T = TypeVar("T")

IFF_UP = 0x1
CLONE_NEWNET = 0x40000000


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"setns: {os.strerror(errno)}")


def in_namespace(path: str, work: Callable[[], T]) -> T:
    """`work()` inside the network namespace at `path`, in a thread of its own that ends
    afterwards (setns changes only the calling thread; that thread is never reused)."""
    if not path:
        return work()
    result: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                _setns(fd)
            finally:
                os.close(fd)
            result.append(work())
        except BaseException as exc:  # handed to the caller below
            failure.append(exc)

    thread = threading.Thread(target=run, name="netns", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def down_links(links: list[NetlinkLink], name: str) -> tuple[NetlinkLink | None, list[NetlinkLink]]:
    """The named link and those of it and its ports (for a bridge or bond) that are admin-down."""
    link = next((each for each in links if each.name == name), None)
    if link is None:
        return None, []
    ports = [each for each in links if each.master_index == link.index]
    return link, [each for each in (link, *ports) if not each.flags & IFF_UP]


def _link_up(name: str, dry_run: bool) -> Outcome:
    link, down = down_links(dump_links(), name)
    if link is None:
        return Outcome(REFUSED, f"no link named {name}")
    if not down:
        if link.carrier == 0 or link.operstate in ("down", "lowerlayerdown"):
            return Outcome(
                REFUSED,
                f"{name} and its ports are administratively up; the lost link is "
                "physical (cable, switch port, peer), not for a command to fix",
            )
        return Outcome(NOT_NEEDED, f"{name} and its ports are up")
    names = ", ".join(each.name for each in down)
    if dry_run:
        return Outcome(DRY_RUN, f"would set up: {names}")
    for each in down:
        set_link_flags(each.index, IFF_UP, IFF_UP)
    _, still = down_links(dump_links(), name)
    if still:
        return Outcome(FAILED, f"set up {names}, but {', '.join(each.name for each in still)} stayed down")
    return Outcome(SUCCEEDED, f"set up: {names}")


def link_up(ctx: Context, name: str) -> Outcome:
    try:
        return in_namespace(ctx.netns, lambda: _link_up(name, ctx.dry_run))
    except OSError as exc:
        return Outcome(FAILED, f"{name}: {exc.strerror or exc}")
