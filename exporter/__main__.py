"""Entry point: `kvm-exporter` / `python -m exporter`."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import sys
from collections.abc import Sequence

import exporter.collectors  # noqa: F401 - registers the collectors
from exporter import __version__
from exporter.cli import parse_settings
from exporter.http import create_app
from exporter.logs import setup_logging
from exporter.server import serve

log = logging.getLogger("exporter")


def split_listen_address(address: str) -> tuple[str | None, int]:
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    return (host or None), int(port)


M_ARENA_MAX = -8  # glibc's mallopt() parameter


def one_malloc_arena() -> bool:
    """glibc gives each thread that allocates a malloc arena of its own (up to 8 per CPU); the
    exporter's threads allocate under the GIL anyway, and one arena saved ~6 MiB of RSS at
    100 domains at no measured cost in CPU. MALLOC_ARENA_MAX in the environment still wins."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    return bool(mallopt(M_ARENA_MAX, 1))


def main(argv: Sequence[str] | None = None) -> None:
    one_malloc_arena()  # before any thread starts
    settings = parse_settings(sys.argv[1:] if argv is None else argv)
    setup_logging(settings.log_level, settings.log_format)
    host, port = split_listen_address(settings.listen_address)
    tls = settings.web_config.tls
    log.info(
        "starting kvm-exporter",
        extra={"version": __version__, "address": settings.listen_address,
               "collectors": ",".join(sorted(settings.collectors)), "tls": tls is not None},
    )
    try:
        asyncio.run(serve(create_app(settings), host, port, tls.ssl_context() if tls else None,
                          settings.max_connections))
    except OSError as exc:
        log.error("cannot listen", extra={"address": settings.listen_address, "err": str(exc)})
        raise SystemExit(1) from exc

if __name__ == "__main__":
    main()
