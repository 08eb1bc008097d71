"""Entry point: `kvm-remediator` / `python -m exporter.remediator`."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Sequence

from aiohttp import web

from exporter import __version__
from exporter.__main__ import split_listen_address
from exporter.http import BUSY_TRANSPORTS, busy_middleware
from exporter.logs import setup_logging
from exporter.remediator.actions import Context
from exporter.remediator.audit import AuditLog
from exporter.remediator.cli import RemediatorSettings, parse_settings
from exporter.remediator.engine import Engine
from exporter.remediator.http import create_app
from exporter.remediator.telemetry import Telemetry
from exporter.server import serve

log = logging.getLogger("remediator")
DRAIN_SECONDS = 3.0


def build_app(settings: RemediatorSettings) -> web.Application:
    mode = "dry-run" if settings.dry_run else "enforce"
    ctx = Context(
        libvirt_uri=settings.libvirt_uri,
        netns=settings.netns,
        iscsiadm=settings.iscsiadm,
        ansible_playbook=settings.ansible_playbook,
        dry_run=settings.dry_run,
    )
    audit = AuditLog(settings.audit_file)
    engine = Engine(settings.config, ctx, settings.instances, audit, Telemetry(mode))
    app = create_app(engine, settings.web_config)
    busy: set[asyncio.BaseTransport] = set()
    app.middlewares.insert(0, busy_middleware(busy))
    app[BUSY_TRANSPORTS] = busy

    async def lifetime(_: web.Application) -> AsyncIterator[None]:
        yield
        await engine.drain(DRAIN_SECONDS)
        audit.close()

    app.cleanup_ctx.append(lifetime)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    settings = parse_settings(sys.argv[1:] if argv is None else argv)
    setup_logging(settings.log_level, settings.log_format)
    host, port = split_listen_address(settings.listen_address)
    tls = settings.web_config.tls
    log.info(
        "starting kvm-remediator",
        extra={
            "version": __version__,
            "address": settings.listen_address,
            "mode": "dry-run" if settings.dry_run else "enforce",
            "instances": ",".join(settings.instances),
            "libvirt": settings.libvirt_uri,
            "playbooks": len(settings.config.playbooks),
            "tls": tls is not None,
        },
    )
    try:
        asyncio.run(
            serve(
                build_app(settings), host, port, tls.ssl_context() if tls else None, settings.max_connections
            )
        )
    except OSError as exc:
        log.error("cannot listen", extra={"address": settings.listen_address, "err": str(exc)})
        raise SystemExit(1) from exc


if __name__ == "__main__":
    main()
