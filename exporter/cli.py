"""Command-line flags in the style of the Go exporters; every bad value exits 2 with one line."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from exporter import __version__
from exporter.collector import COLLECTORS
from exporter.durations import parse_duration
from exporter.settings import DEFAULT_LISTEN_ADDRESS, Settings
from exporter.webconfig import WebConfig, WebConfigError, load_web_config

PROG = "kvm-exporter"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message}\n")


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, not {text!r}")
    return value


def _regex(text: str) -> str:
    try:
        re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"not a regular expression: {text!r} ({exc})") from exc
    return text


def _listen_address(text: str) -> str:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not host:port (e.g. :9978, 127.0.0.1:9978)")
    if host.startswith("[") != host.endswith("]"):
        raise argparse.ArgumentTypeError(f"{text!r} has an unbalanced IPv6 bracket")
    return text


def _telemetry_path(text: str) -> str:
    if not text.startswith("/") or text == "/" or text.startswith("/-/"):
        raise argparse.ArgumentTypeError(f"{text!r} must start with / and not be / or /-/...")
    return text


def _under(rootfs: str, path: str) -> str:
    return str(Path(rootfs) / path)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Prometheus exporter for KVM/libvirt hypervisors.")
    add = parser.add_argument
    add("--web.listen-address", dest="listen_address", type=_listen_address,
        default=DEFAULT_LISTEN_ADDRESS, help="Address to listen on (default %(default)s).")
    add("--web.telemetry-path", dest="telemetry_path", type=_telemetry_path,
        default="/metrics", help="Path under which to expose metrics (default %(default)s).")
    add("--web.config.file", dest="web_config_file", default="",
        help="Path to an exporter-toolkit web config (TLS, basic auth).")
    add("--web.max-connections", dest="max_connections", type=_positive_int, default=256,
        help="Open connections at most; past it the longest-idle one is closed (default %(default)s).")
    add("--path.sysfs", dest="path_sysfs", default="/sys",
        help="Mount point of the host's sysfs, e.g. /host/sys in a container (default %(default)s).")
    add("--path.procfs", dest="path_procfs", default="/proc",
        help="Mount point of the host's procfs (default %(default)s).")
    add("--path.rootfs", dest="path_rootfs", default="/",
        help="Mount point of the host's root filesystem, for device nodes like /dev/kvm "
        "(default %(default)s).")
    add("--path.kmsg", dest="kmsg_path", default="/dev/kmsg",
        help="The kernel log device to read new records from (default %(default)s).")
    add("--libvirt.run-dir", dest="libvirt_run_dir", default=None,
        help="libvirt's QEMU state directory with <domain>.pid files (default "
        "<path.rootfs>/run/libvirt/qemu).")
    add("--libvirt.config-dir", dest="libvirt_config_dir", default=None,
        help="libvirt's configuration directory to check (default <path.rootfs>/etc/libvirt).")
    add("--qemu.log-dir", dest="qemu_log_dir", default=None,
        help="Directory of QEMU's per-domain logs (default <path.rootfs>/var/log/libvirt/qemu).")
    add("--smartctl.path", dest="smartctl_path", default="smartctl",
        help="smartctl to run (default %(default)s).")
    add("--smartctl.interval", dest="smartctl_interval", type=_duration, default="60s",
        help="How often smartctl reads every device, in the background (default 60s).")
    add("--smartctl.timeout", dest="smartctl_timeout", type=_duration, default="30s",
        help="Time one smartctl run may take before it is killed (default 30s).")
    add("--smartctl.nocheck", dest="smartctl_nocheck", default="standby",
        choices=["never", "sleep", "standby", "idle"],
        help="Leave a device alone in this power mode or lower (smartctl --nocheck; default %(default)s).")
    add("--smartctl.device", dest="smartctl_devices", action="append", default=[],
        help="A device to read instead of discovering them, e.g. /dev/sda or '/dev/sda;sat' (repeatable).")
    add("--smartctl.device-include", dest="smartctl_device_include", type=_regex, default="",
        help="Only devices whose name matches this regular expression.")
    add("--smartctl.device-exclude", dest="smartctl_device_exclude", type=_regex, default="",
        help="Leave out devices whose name matches this regular expression.")
    add("--libvirt.uri", dest="libvirt_uri", default="qemu:///system",
        help="libvirt connection URI, opened read-only (default %(default)s).")
    add("--libvirt.parallel-calls", dest="libvirt_parallel_calls", type=_positive_int,
        default=4, help="Bulk stats calls issued in parallel, each on a share of the domains "
        "(default %(default)s).")
    add("--network.device-include", dest="network_device_include", type=_regex, default="",
        help="Only interfaces whose name matches this regular expression get per-interface series.")
    add("--network.device-exclude", dest="network_device_exclude", type=_regex, default="",
        help="Leave out the per-interface series of interfaces matching this regular expression "
        "(e.g. '^(tap|veth)' on a host with churning taps).")
    add("--network.ethtool", dest="network_ethtool", action=argparse.BooleanOptionalAction, default=True,
        help="Read broadcast counters from ethtool statistics of the exporter's own network "
        "namespace (turn off when --path.sysfs shows another namespace).")
    add("--libvirt.snapshot-interval", dest="libvirt_snapshot_interval", type=_duration, default="1m",
        help="How often each domain's snapshot list is re-read (libvirt has no snapshot events; "
        "default 1m).")
    add("--qemu-img.path", dest="vdisk_qemu_img_path", default="qemu-img",
        help="qemu-img to check disk images with (default %(default)s).")
    add("--qemu-img.check-interval", dest="vdisk_check_interval", type=_duration, default="1h",
        help="How often every qcow2/vmdk/... image is checked, in the background (default 1h).")
    add("--qemu-img.check-timeout", dest="vdisk_check_timeout", type=_duration, default="5m",
        help="Time one qemu-img check may take before it is killed (default 5m).")
    add("--iscsiadm.path", dest="iscsi_iscsiadm_path", default="iscsiadm",
        help="iscsiadm to run for session counters (default %(default)s).")
    add("--iscsi.nodes-dir", dest="iscsi_nodes_dir", default=None,
        help="open-iscsi's node database (default <path.rootfs>/etc/iscsi/nodes).")
    add("--iscsiadm.interval", dest="iscsi_interval", type=_duration, default="30s",
        help="How often iscsiadm reads session counters, in the background (default 30s).")
    add("--iscsiadm.timeout", dest="iscsi_timeout", type=_duration, default="10s",
        help="Time one iscsiadm run may take before it is killed (default 10s).")
    add("--zpool.path", dest="zfs_zpool_path", default="zpool",
        help="zpool to run (default %(default)s).")
    add("--zfs.path", dest="zfs_zfs_path", default="zfs", help="zfs to run (default %(default)s).")
    add("--zfs.interval", dest="zfs_interval", type=_duration, default="60s",
        help="How often zpool/zfs run, in the background (default 60s).")
    add("--zfs.timeout", dest="zfs_timeout", type=_duration, default="30s",
        help="Time one zpool/zfs run may take before it is killed (default 30s).")
    add("--zfs.snapshot-dataset-include", dest="zfs_snapshot_dataset_include", type=_regex, default="",
        help="Only datasets matching this regular expression get snapshot series (default: all).")
    add("--ovs-vsctl.path", dest="ovs_vsctl_path", default="ovs-vsctl",
        help="ovs-vsctl to run (default %(default)s).")
    add("--ovs.db", dest="ovs_db", default="",
        help="OVSDB to ask, e.g. unix:/run/openvswitch/db.sock (default: ovs-vsctl's own).")
    add("--ovs.interval", dest="ovs_interval", type=_duration, default="30s",
        help="How often ovs-vsctl runs, in the background (default 30s).")
    add("--ovs.timeout", dest="ovs_timeout", type=_duration, default="10s",
        help="Time one ovs-vsctl run may take before it is killed (default 10s).")
    add("--collector.timeout", dest="collector_timeout", type=_duration, default="8s",
        help="Time a collector may take per scrape before it counts as failed (default 8s).")
    add("--log.level", dest="log_level", default="info",
        choices=["debug", "info", "warn", "error"], help="Log level (default %(default)s).")
    add("--log.format", dest="log_format", default="logfmt", choices=["logfmt", "json"],
        help="Log format (default %(default)s).")
    add("--version", action="version", version=f"{PROG} {__version__}")
    for spec in sorted(COLLECTORS.values(), key=lambda s: s.name):
        state = "enabled" if spec.default_enabled else "disabled"
        add(f"--collector.{spec.name}", dest=f"collector_{spec.name}",
            action=argparse.BooleanOptionalAction, default=spec.default_enabled,
            help=f"{spec.description} ({state} by default)")
    return parser


def parse_settings(argv: Sequence[str] | None = None) -> Settings:
    """Parse flags and the web config file; exit 2 with one line naming any problem."""
    args = build_parser().parse_args(argv)
    web_config = WebConfig()
    if args.web_config_file:
        try:
            web_config = load_web_config(args.web_config_file)
        except WebConfigError as exc:
            sys.stderr.write(f"{PROG}: error: {exc}\n")
            raise SystemExit(2) from exc
    enabled = frozenset(name for name in COLLECTORS if getattr(args, f"collector_{name}"))
    return Settings(
        listen_address=args.listen_address,
        telemetry_path=args.telemetry_path,
        web_config=web_config,
        max_connections=args.max_connections,
        libvirt_uri=args.libvirt_uri,
        path_sysfs=args.path_sysfs,
        path_procfs=args.path_procfs,
        path_rootfs=args.path_rootfs,
        kmsg_path=args.kmsg_path,
        libvirt_run_dir=args.libvirt_run_dir or _under(args.path_rootfs, "run/libvirt/qemu"),
        libvirt_config_dir=args.libvirt_config_dir or _under(args.path_rootfs, "etc/libvirt"),
        qemu_log_dir=args.qemu_log_dir or _under(args.path_rootfs, "var/log/libvirt/qemu"),
        smartctl_path=args.smartctl_path,
        smartctl_interval=args.smartctl_interval,
        smartctl_timeout=args.smartctl_timeout,
        smartctl_nocheck=args.smartctl_nocheck,
        smartctl_devices=tuple(args.smartctl_devices),
        smartctl_device_include=args.smartctl_device_include,
        smartctl_device_exclude=args.smartctl_device_exclude,
        libvirt_parallel_calls=args.libvirt_parallel_calls,
        network_device_include=args.network_device_include,
        network_device_exclude=args.network_device_exclude,
        network_ethtool=args.network_ethtool,
        libvirt_snapshot_interval=args.libvirt_snapshot_interval,
        vdisk_qemu_img_path=args.vdisk_qemu_img_path,
        vdisk_check_interval=args.vdisk_check_interval,
        vdisk_check_timeout=args.vdisk_check_timeout,
        iscsi_iscsiadm_path=args.iscsi_iscsiadm_path,
        iscsi_nodes_dir=args.iscsi_nodes_dir or _under(args.path_rootfs, "etc/iscsi/nodes"),
        iscsi_interval=args.iscsi_interval,
        iscsi_timeout=args.iscsi_timeout,
        zfs_zpool_path=args.zfs_zpool_path,
        zfs_zfs_path=args.zfs_zfs_path,
        zfs_interval=args.zfs_interval,
        zfs_timeout=args.zfs_timeout,
        zfs_snapshot_dataset_include=args.zfs_snapshot_dataset_include,
        ovs_vsctl_path=args.ovs_vsctl_path,
        ovs_db=args.ovs_db,
        ovs_interval=args.ovs_interval,
        ovs_timeout=args.ovs_timeout,
        collector_timeout=args.collector_timeout,
        collectors=enabled,
        log_level=args.log_level,
        log_format=args.log_format,
    )
