"""`kvm-remediator` flags, in the style of the exporter's. Every problem with the flags,
the playbooks file, the web config or the audit log is reported at once; then exit 2."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

from exporter import __version__
from exporter.options import argparse_type, positive_int
from exporter.remediator.config import ConfigError, RemediatorConfig, load_config
from exporter.settings import listen_address
from exporter.webconfig import WebConfig, WebConfigError, load_web_config

PROG = "kvm-remediator"
DEFAULT_LISTEN_ADDRESS = "127.0.0.1:9979"


@dataclass(frozen=True)
class RemediatorSettings:
    listen_address: str
    web_config: WebConfig
    max_connections: int
    config: RemediatorConfig
    config_file: str
    dry_run: bool
    libvirt_uri: str
    instances: tuple[str, ...]
    netns: str
    iscsiadm: str
    ansible_playbook: str
    audit_file: str
    log_level: str
    log_format: str


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description="Heals the faults the kvm-exporter alerts report, on this host, "
        "as Alertmanager's webhook receiver. Dry-run unless --mode=enforce.",
    )
    p.add_argument(
        "--web.listen-address",
        dest="listen_address",
        type=argparse_type(listen_address),
        default=DEFAULT_LISTEN_ADDRESS,
        help=f"Address to listen on (default {DEFAULT_LISTEN_ADDRESS}: loopback only).",
    )
    p.add_argument(
        "--web.config.file",
        dest="web_config_file",
        default="",
        help="Path to an exporter-toolkit web config (TLS, client certificates, basic auth).",
    )
    p.add_argument(
        "--web.max-connections",
        dest="max_connections",
        type=argparse_type(positive_int),
        default=256,
        help="Open connections at most (default 256).",
    )
    p.add_argument(
        "--config.file",
        dest="config_file",
        default="/etc/kvm-remediator/config.yml",
        help="The playbooks: which alert gets which action, and the limits.",
    )
    p.add_argument(
        "--mode",
        choices=("dry-run", "enforce"),
        default="dry-run",
        help="dry-run (default): check and audit what would be done; enforce: do it.",
    )
    p.add_argument(
        "--libvirt.uri",
        dest="libvirt_uri",
        default="qemu:///system",
        help="libvirt connection URI the domain actions use, read-write (default qemu:///system).",
    )
    p.add_argument(
        "--instance",
        dest="instances",
        action="append",
        default=[],
        help="An `instance` label value (or its host part) of this host's exporter; alerts of "
        "other instances are ignored. Repeatable (default: this host's name and FQDN).",
    )
    p.add_argument(
        "--net.namespace",
        dest="netns",
        default="",
        help="Network namespace file whose links the link action sets (default: the remediator's own).",
    )
    p.add_argument("--iscsiadm.path", dest="iscsiadm", default="iscsiadm", help="The iscsiadm program.")
    p.add_argument(
        "--ansible-playbook.path",
        dest="ansible_playbook",
        default="ansible-playbook",
        help="The ansible-playbook program.",
    )
    p.add_argument(
        "--audit.file",
        dest="audit_file",
        default="/var/lib/kvm-remediator/audit.jsonl",
        help="Append-only JSON-lines audit log of every request and decision.",
    )
    p.add_argument(
        "--log.level", dest="log_level", choices=("debug", "info", "warn", "error"), default="info"
    )
    p.add_argument("--log.format", dest="log_format", choices=("logfmt", "json"), default="logfmt")
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    return p


def _audit_problem(path: str) -> str:
    """Why the audit log cannot be appended to, or "": the file, else its nearest existing
    parent directory (the log creates the missing ones), must be writable."""
    if os.path.isdir(path):
        return f"--audit.file {path!r} is a directory"
    probe = os.path.abspath(path)
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    return "" if os.access(probe, os.W_OK) else f"--audit.file {path!r} cannot be written"


def parse_settings(argv: Sequence[str]) -> RemediatorSettings:
    args = build_parser().parse_args(argv)
    problems: list[str] = []
    config: RemediatorConfig | None = None
    try:
        config = load_config(args.config_file)
    except ConfigError as exc:
        problems += exc.problems
    web_config = WebConfig()
    if args.web_config_file:
        try:
            web_config = load_web_config(args.web_config_file)
        except WebConfigError as exc:
            problems.append(str(exc))
    if args.netns and not os.path.exists(args.netns):
        problems.append(f"--net.namespace {args.netns!r} does not exist")
    audit = _audit_problem(args.audit_file)
    if audit:
        problems.append(audit)
    if problems:
        for problem in problems:
            sys.stderr.write(f"{PROG}: error: {problem}\n")
        raise SystemExit(2)
    assert config is not None  # a config that did not load is a problem above
    instances = tuple(args.instances) or tuple(dict.fromkeys((socket.gethostname(), socket.getfqdn())))
    return RemediatorSettings(
        listen_address=args.listen_address,
        web_config=web_config,
        max_connections=args.max_connections,
        config=config,
        config_file=args.config_file,
        dry_run=args.mode == "dry-run",
        libvirt_uri=args.libvirt_uri,
        instances=instances,
        netns=args.netns,
        iscsiadm=args.iscsiadm,
        ansible_playbook=args.ansible_playbook,
        audit_file=args.audit_file,
        log_level=args.log_level,
        log_format=args.log_format,
    )
