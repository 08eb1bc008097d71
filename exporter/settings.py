"""The validated configuration the application is built from, and the core options.

Collector options are declared by their collectors (`register(..., options=...)`) and live
in `Settings.options` by flag name; read them with `OPTION.of(settings)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from exporter.options import Option, duration, positive_int
from exporter.webconfig import WebConfig

DEFAULT_PORT = 9978
DEFAULT_LISTEN_ADDRESS = f":{DEFAULT_PORT}"


def listen_address(text: str) -> str:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r} is not host:port (e.g. :9978, 127.0.0.1:9978)")
    if host.startswith("[") != host.endswith("]"):
        raise ValueError(f"{text!r} has an unbalanced IPv6 bracket")
    return text


def telemetry_path(text: str) -> str:
    if not text.startswith("/") or text == "/" or text.startswith("/-/"):
        raise ValueError(f"{text!r} must start with / and not be / or /-/...")
    return text


LISTEN_ADDRESS = Option("web.listen-address", DEFAULT_LISTEN_ADDRESS, "Address to listen on.",
                        parse=listen_address, dest="listen_address")
TELEMETRY_PATH = Option("web.telemetry-path", "/metrics", "Path under which to expose metrics.",
                        parse=telemetry_path, dest="telemetry_path")
MAX_CONNECTIONS = Option("web.max-connections", 256, "Open connections at most; past it the "
                         "longest-idle one is closed.", parse=positive_int, dest="max_connections")
PATH_SYSFS = Option("path.sysfs", "/sys", "Mount point of the host's sysfs, e.g. /host/sys in a "
                    "container.", dest="path_sysfs")
PATH_PROCFS = Option("path.procfs", "/proc", "Mount point of the host's procfs.", dest="path_procfs")
PATH_ROOTFS = Option("path.rootfs", "/", "Mount point of the host's root filesystem, for device "
                     "nodes like /dev/kvm.", dest="path_rootfs")
LIBVIRT_URI = Option("libvirt.uri", "qemu:///system", "libvirt connection URI, opened read-only.",
                     dest="libvirt_uri")
LIBVIRT_RUN_DIR = Option("libvirt.run-dir", "run/libvirt/qemu", "libvirt's QEMU state directory "
                         "with <domain>.pid files.", under_rootfs=True, dest="libvirt_run_dir")
COLLECTOR_TIMEOUT = Option("collector.timeout", 8.0, "Time a collector may take per scrape before "
                           "it counts as failed.", parse=duration, shown="8s", dest="collector_timeout")
LOG_LEVEL = Option("log.level", "info", "Log level.", choices=("debug", "info", "warn", "error"),
                   dest="log_level")
LOG_FORMAT = Option("log.format", "logfmt", "Log format.", choices=("logfmt", "json"), dest="log_format")

CORE_OPTIONS: tuple[Option[Any], ...] = (
    LISTEN_ADDRESS, TELEMETRY_PATH, MAX_CONNECTIONS, PATH_SYSFS, PATH_PROCFS, PATH_ROOTFS,
    LIBVIRT_URI, LIBVIRT_RUN_DIR, COLLECTOR_TIMEOUT, LOG_LEVEL, LOG_FORMAT,
)


@dataclass(frozen=True)
class Settings:
    listen_address: str = LISTEN_ADDRESS.default
    telemetry_path: str = TELEMETRY_PATH.default
    web_config: WebConfig = field(default_factory=WebConfig)
    max_connections: int = MAX_CONNECTIONS.default
    path_sysfs: str = PATH_SYSFS.default
    path_procfs: str = PATH_PROCFS.default
    path_rootfs: str = PATH_ROOTFS.default
    libvirt_uri: str = LIBVIRT_URI.default
    libvirt_run_dir: str = "/" + LIBVIRT_RUN_DIR.default
    collector_timeout: float = COLLECTOR_TIMEOUT.default
    collectors: frozenset[str] = frozenset()
    log_level: str = LOG_LEVEL.default
    log_format: str = LOG_FORMAT.default
    options: Mapping[str, object] = field(default_factory=dict)  # collector options by flag
