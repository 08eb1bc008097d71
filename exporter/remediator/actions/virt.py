"""The libvirt actions: start a domain that should run; resume a domain paused on an I/O
error once its cause is gone; start a virtual network or storage pool marked autostart.
libvirt calls block: the engine runs these in a worker thread."""

from __future__ import annotations

import os
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import libvirt

from exporter.remediator.actions import DRY_RUN, FAILED, NOT_NEEDED, REFUSED, SUCCEEDED, Context, Outcome

# A domain may carry <metadata><remediation xmlns="..." keep-running="yes"/></metadata> to be
# started by the remediator without being marked autostart (e.g. started by a cluster manager
# that is not running here).
METADATA_NS = "https://github.com/kvm-exporter/kvm-exporter/remediation/1"
RESUME_SETTLE_SECONDS = 1.0  # a guest whose disk is still full pauses again within this

STATE_NAMES = {
    libvirt.VIR_DOMAIN_NOSTATE: "nostate",
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "blocked",
    libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "shutdown",
    libvirt.VIR_DOMAIN_SHUTOFF: "shutoff",
    libvirt.VIR_DOMAIN_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "pmsuspended",
}
RUNNING = (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_BLOCKED)


def _quiet(_ctx: object, _error: object) -> None:
    """libvirt prints every error to stderr by default; the outcomes carry them instead."""


libvirt.registerErrorHandler(_quiet, None)


def _acting_on(ctx: Context, kind: str, name: str, act: Callable[[Any], Outcome]) -> Outcome:
    """`act(object)` on the named domain, network or pool of `ctx`'s libvirt, over a
    connection of its own; libvirt errors become failed outcomes, a missing object a refusal."""
    try:
        conn = libvirt.open(ctx.libvirt_uri)
    except libvirt.libvirtError as exc:
        return Outcome(FAILED, f"libvirt {ctx.libvirt_uri}: {exc.get_error_message()}")
    try:
        lookup = {
            "domain": conn.lookupByName,
            "network": conn.networkLookupByName,
            "pool": conn.storagePoolLookupByName,
        }[kind]
        try:
            found = lookup(name)
        except libvirt.libvirtError:
            return Outcome(REFUSED, f"no {kind} {name!r} at {ctx.libvirt_uri}")
        return act(found)
    except libvirt.libvirtError as exc:
        return Outcome(FAILED, f"{kind} {name}: {exc.get_error_message()}")
    finally:
        conn.close()


def _keep_running(dom: libvirt.virDomain) -> bool:
    try:
        text = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, METADATA_NS)
    except libvirt.libvirtError:
        return False
    try:
        return ET.fromstring(text).get("keep-running") == "yes"
    except ET.ParseError:
        return False


def start_domain(ctx: Context, name: str) -> Outcome:
    return _acting_on(ctx, "domain", name, lambda dom: _start_domain(ctx, name, dom))


def _start_domain(ctx: Context, name: str, dom: libvirt.virDomain) -> Outcome:
    state, reason = dom.state()
    if state in RUNNING:
        return Outcome(NOT_NEEDED, f"{name} is already running")
    if state not in (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_CRASHED):
        return Outcome(REFUSED, f"{name} is {STATE_NAMES.get(state, state)}, not shut off or crashed")
    if not dom.isPersistent():
        return Outcome(REFUSED, f"{name} is transient: nothing says it should run")
    if not dom.autostart() and not _keep_running(dom):
        return Outcome(REFUSED, f"{name} is not marked autostart (or keep-running): it may be off on purpose")
    if ctx.dry_run:
        return Outcome(DRY_RUN, f"would start {name} ({STATE_NAMES.get(state, state)}, reason {reason})")
    dom.create()
    state, _ = dom.state()
    if state in RUNNING:
        return Outcome(SUCCEEDED, f"started {name}")
    return Outcome(FAILED, f"started {name} but it is {STATE_NAMES.get(state, state)}")


@dataclass(frozen=True)
class Disk:
    target: str
    kind: str  # file, block, network, volume
    source: str


def parse_disks(xml: str) -> list[Disk]:
    """The writable disks of a domain's XML with where their data lives."""
    disks = []
    for disk in ET.fromstring(xml).iterfind("devices/disk"):
        if disk.get("device", "disk") != "disk" or disk.find("readonly") is not None:
            continue
        target = disk.find("target")
        source = disk.find("source")
        if target is None or target.get("dev") is None:
            continue
        kind = disk.get("type", "file")
        where = ""
        if source is not None:
            where = (
                source.get("file") or source.get("dev") or source.get("name") or source.get("volume") or ""
            )
        disks.append(Disk(str(target.get("dev")), kind, where))
    return disks


def cause_gone(disks: list[Disk], errors: dict[str, int], min_free: int) -> str:
    """Why the domain must stay paused, or "" when every disk that failed can take writes."""
    failed = [d for d in disks if d.target in errors] or disks
    for disk in failed:
        if disk.kind == "file" and disk.source:
            try:
                stat = os.statvfs(os.path.dirname(disk.source) or "/")
            except OSError as exc:
                return f"disk {disk.target}: cannot check {disk.source}: {exc.strerror}"
            free = stat.f_bavail * stat.f_frsize
            if free < min_free:
                return (
                    f"disk {disk.target}: {free} bytes free on the filesystem of {disk.source}, "
                    f"less than {min_free}"
                )
        elif disk.kind == "block" and disk.source:
            try:
                with open(disk.source, "rb", buffering=0) as device:
                    device.read(4096)
            except OSError as exc:
                return f"disk {disk.target}: {disk.source} cannot be read: {exc.strerror}"
        else:
            return f"disk {disk.target} ({disk.kind}) cannot be checked from this host"
    return ""


def resume_domain(ctx: Context, name: str, min_free: int) -> Outcome:
    return _acting_on(ctx, "domain", name, lambda dom: _resume_domain(ctx, name, dom, min_free))


def _resume_domain(ctx: Context, name: str, dom: libvirt.virDomain, min_free: int) -> Outcome:
    state, reason = dom.state()
    if state in RUNNING:
        return Outcome(NOT_NEEDED, f"{name} is running")
    if state != libvirt.VIR_DOMAIN_PAUSED or reason != libvirt.VIR_DOMAIN_PAUSED_IOERROR:
        return Outcome(
            REFUSED,
            f"{name} is {STATE_NAMES.get(state, state)} (reason {reason}), not paused on an I/O error",
        )
    errors = {dev: code for dev, code in (dom.diskErrors() or {}).items() if code}
    why = cause_gone(parse_disks(dom.XMLDesc(0)), errors, min_free)
    if why:
        return Outcome(REFUSED, f"{name} stays paused: {why}")
    if ctx.dry_run:
        return Outcome(DRY_RUN, f"would resume {name} (disk errors: {errors or 'none left'})")
    dom.resume()
    time.sleep(RESUME_SETTLE_SECONDS)
    state, reason = dom.state()
    if state in RUNNING:
        return Outcome(SUCCEEDED, f"resumed {name}")
    return Outcome(
        FAILED, f"resumed {name} but it is {STATE_NAMES.get(state, state)} again (reason {reason})"
    )


def _start_object(ctx: Context, kind: str, name: str) -> Outcome:
    """Start an inactive network or storage pool that is marked autostart."""
    return _acting_on(ctx, kind, name, lambda thing: _start_inactive(ctx, kind, name, thing))


def _start_inactive(ctx: Context, kind: str, name: str, thing: Any) -> Outcome:
    if thing.isActive():
        return Outcome(NOT_NEEDED, f"{kind} {name} is active")
    if not thing.autostart():
        return Outcome(REFUSED, f"{kind} {name} is not marked autostart: it may be off on purpose")
    if ctx.dry_run:
        return Outcome(DRY_RUN, f"would start {kind} {name}")
    thing.create()
    if thing.isActive():
        return Outcome(SUCCEEDED, f"started {kind} {name}")
    return Outcome(FAILED, f"started {kind} {name} but it is not active")


def start_network(ctx: Context, name: str) -> Outcome:
    return _start_object(ctx, "network", name)


def start_pool(ctx: Context, name: str) -> Outcome:
    return _start_object(ctx, "pool", name)
