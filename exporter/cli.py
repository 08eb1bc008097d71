"""Command-line flags in the style of the Go exporters, built from the option tables: the
core options of `exporter.settings` and each registered collector's own. Every bad value
exits 2 with one line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import exporter.collectors  # noqa: F401 - registers the collectors and their options
from exporter import __version__
from exporter.collector import COLLECTORS, CollectorSpec
from exporter.options import Option, argparse_type
from exporter.settings import CORE_OPTIONS, Settings
from exporter.webconfig import WebConfig, WebConfigError, load_web_config

PROG = "kvm-exporter"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message}\n")


def _add(parser: argparse.ArgumentParser, option: Option[Any]) -> None:
    flag, dest, help_text = f"--{option.flag}", option.key, option.describe()
    if isinstance(option.default, bool):
        parser.add_argument(flag, dest=dest, help=help_text, action=argparse.BooleanOptionalAction,
                            default=option.default)
    elif option.repeatable and option.parse is not None:  # each use parsed on its own
        parser.add_argument(flag, dest=dest, help=help_text, action="append", default=[],
                            type=argparse_type(option.parse))
    elif option.repeatable:
        parser.add_argument(flag, dest=dest, help=help_text, action="append", default=[])
    elif option.parse is not None:
        parser.add_argument(flag, dest=dest, help=help_text, default=_default(option),
                            type=argparse_type(option.parse))
    else:
        parser.add_argument(flag, dest=dest, help=help_text, default=_default(option),
                            choices=option.choices or None)


def _default(option: Option[Any]) -> Any:
    return None if option.under_rootfs else option.default


def _add_collector(parser: argparse.ArgumentParser, spec: CollectorSpec) -> None:
    state = "enabled" if spec.default_enabled else "disabled"
    parser.add_argument(f"--collector.{spec.name}", dest=f"collector_{spec.name}",
                        action=argparse.BooleanOptionalAction, default=None,
                        help=f"{spec.description} ({state} by default)")
    for option in spec.options:
        _add(parser, option)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Prometheus exporter for KVM/libvirt hypervisors.")
    for option in CORE_OPTIONS:
        _add(parser, option)
    parser.add_argument("--web.config.file", dest="web_config_file", default="",
                        help="Path to an exporter-toolkit web config (TLS, basic auth).")
    parser.add_argument("--collector.disable-defaults", dest="collector_disable_defaults",
                        action="store_true", help="Turn off every collector not enabled by its own flag.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    for spec in sorted(COLLECTORS.values(), key=lambda s: s.name):
        _add_collector(parser, spec)
    return parser


def _value(option: Option[Any], args: dict[str, Any], rootfs: str) -> Any:
    value = args[option.key]
    if value is None and option.under_rootfs:
        return str(Path(rootfs) / str(option.default))
    return tuple(value) if option.repeatable else value


def _enabled(args: dict[str, Any]) -> frozenset[str]:
    """`--collector.X` wins; otherwise the collector's default, unless defaults are off."""
    defaults = not args["collector_disable_defaults"]

    def enabled(spec: CollectorSpec) -> bool:
        chosen = args[f"collector_{spec.name}"]
        return bool(chosen) if chosen is not None else defaults and spec.default_enabled

    return frozenset(name for name, spec in COLLECTORS.items() if enabled(spec))


def parse_settings(argv: Sequence[str] | None = None) -> Settings:
    """Parse flags and the web config file; exit 2 with one line naming any problem."""
    args = vars(build_parser().parse_args(argv))
    web_config = WebConfig()
    if args["web_config_file"]:
        try:
            web_config = load_web_config(args["web_config_file"])
        except WebConfigError as exc:
            sys.stderr.write(f"{PROG}: error: {exc}\n")
            raise SystemExit(2) from exc
    rootfs = args["path_rootfs"]
    core = {option.key: _value(option, args, rootfs) for option in CORE_OPTIONS}
    options = {option.flag: _value(option, args, rootfs)
               for spec in COLLECTORS.values() for option in spec.options}
    return Settings(**core, web_config=web_config, collectors=_enabled(args), options=options)
