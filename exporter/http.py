"""The aiohttp application: /metrics, the landing page, /-/healthy and /-/ready."""

from __future__ import annotations

import asyncio
import base64
import binascii
import gzip
import html
import platform
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

import exporter.collectors  # noqa: F401 - registers the collectors
from exporter import __version__
from exporter.collector import COLLECTORS, Collector, SharedCollection, outcome_families
from exporter.metrics import (
    OPENMETRICS_CONTENT_TYPE,
    TEXT_CONTENT_TYPE,
    Family,
    gauge,
    render,
    single,
)
from exporter.settings import Settings
from exporter.shared import Shared
from exporter.webconfig import PasswordChecker

SETTINGS = web.AppKey("settings", Settings)
COLLECTION = web.AppKey("collection", SharedCollection)
# Transports with a request in progress: the connection cap (exporter.server) never closes them.
BUSY_TRANSPORTS = web.AppKey("busy_transports", set[asyncio.BaseTransport])

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_info() -> Family:
    return single(
        gauge("exporter_build_info", "A metric with a constant 1 labelled by the exporter's "
              "version and the Python it runs on.", ["version", "python_version"]),
        1, __version__, platform.python_version(),
    )


def wants_openmetrics(accept: str) -> bool:
    return "application/openmetrics-text" in accept


def encode_metrics(families: list[Family], openmetrics: bool, use_gzip: bool) -> bytes:
    body = render(families, openmetrics).encode()
    return gzip.compress(body, compresslevel=1) if use_gzip else body


def chosen_collectors(request: web.Request, enabled: set[str]) -> frozenset[str] | None:
    """node_exporter's URL parameters: `collect[]=NAME` (repeatable) scrapes only those
    collectors, `exclude[]=NAME` leaves those out; a name that is not enabled is a 400."""
    include, exclude = request.query.getall("collect[]", []), request.query.getall("exclude[]", [])
    if not include and not exclude:
        return None
    unknown = sorted((set(include) | set(exclude)) - enabled)
    if unknown:
        raise web.HTTPBadRequest(text=f"not an enabled collector: {', '.join(unknown)} "
                                      f"(enabled: {', '.join(sorted(enabled))})\n")
    return frozenset(include or enabled) - set(exclude)


async def metrics_handler(request: web.Request) -> web.Response:
    collection = request.app[COLLECTION]
    names = chosen_collectors(request, {c.name for c in collection.collectors})
    outcomes = await collection.collect(names)
    families = [build_info(), *outcome_families(outcomes)]
    for outcome in outcomes:
        families.extend(outcome.families)
    openmetrics = wants_openmetrics(request.headers.get("Accept", ""))
    use_gzip = "gzip" in request.headers.get("Accept-Encoding", "")
    body = await asyncio.to_thread(encode_metrics, families, openmetrics, use_gzip)
    response = web.Response(body=body)
    response.headers["Content-Type"] = OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE
    if use_gzip:
        response.headers["Content-Encoding"] = "gzip"
    return response


async def landing_handler(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    collection = request.app[COLLECTION]
    rows = []
    for name in sorted(c.name for c in collection.collectors):
        outcome = collection.last.get(name)
        if outcome is None:
            status, duration, when = "not scraped yet", "", ""
        else:
            status = "ok" if outcome.success else f"failed: {outcome.error}"
            duration = f"{outcome.duration:.3f}s"
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(outcome.finished_at))
        spec = COLLECTORS.get(name)
        description = spec.description if spec else ""
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td>{html.escape(description)}</td>"
            f"<td>{html.escape(status)}</td><td>{duration}</td><td>{when}</td></tr>"
        )
    path = html.escape(settings.telemetry_path)
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>kvm-exporter</title></head>"
        f"<body><h1>kvm-exporter {__version__}</h1><p><a href='{path}'>Metrics</a></p>"
        "<h2>Collectors</h2><table border='1'><tr><th>collector</th><th>what</th>"
        "<th>last result</th><th>duration</th><th>at</th></tr>"
        + "".join(rows) + "</table></body></html>"
    )
    # backslashreplace: a collector error may name a file whose name is not UTF-8
    return web.Response(body=page.encode("utf-8", "backslashreplace"), content_type="text/html",
                        charset="utf-8")


async def healthy_handler(_: web.Request) -> web.Response:
    return web.Response(text="Healthy.\n")


async def ready_handler(_: web.Request) -> web.Response:
    return web.Response(text="Ready.\n")


def busy_middleware(busy: set[asyncio.BaseTransport]) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        transport = request.transport
        if transport is None:
            return await handler(request)
        busy.add(transport)
        try:
            return await handler(request)
        finally:
            busy.discard(transport)

    return middleware


def basic_auth_middleware(checker: PasswordChecker) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        user, password = credentials(request.headers.get("Authorization", ""))
        if user is None or not await checker.check(user, password):
            raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Basic realm="kvm-exporter"'})
        return await handler(request)

    return middleware


def credentials(header: str) -> tuple[str | None, str]:
    """(user, password) of a Basic Authorization header, (None, "") for anything else.
    Non-UTF-8 credentials are kept byte for byte (surrogate-escaped), as Go compares bytes."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None, ""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):  # ValueError: non-ASCII characters in the header
        return None, ""
    user, sep, password = decoded.decode("utf-8", "surrogateescape").partition(":")
    return (user, password) if sep else (None, "")


def headers_middleware(headers: dict[str, str]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """`http_server_config.headers` on every response, errors (401, 404) included."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers.update(headers)
            raise
        response.headers.update(headers)
        return response

    return middleware


def create_app(settings: Settings, collectors: list[Collector] | None = None) -> web.Application:
    """Build the application; collectors come from the registry unless given (tests)."""
    busy: set[asyncio.BaseTransport] = set()
    middlewares = [busy_middleware(busy)]
    if settings.web_config.headers:
        middlewares.append(headers_middleware(settings.web_config.headers))
    if settings.web_config.basic_auth_users:
        middlewares.append(basic_auth_middleware(PasswordChecker(settings.web_config.basic_auth_users)))
    app = web.Application(middlewares=middlewares)
    app[SETTINGS] = settings
    app[BUSY_TRANSPORTS] = busy

    async def collectors_ctx(app: web.Application) -> AsyncIterator[None]:
        shared = Shared(settings)
        active = collectors
        if active is None:
            active = [COLLECTORS[name].factory(settings, shared) for name in sorted(settings.collectors)]
        app[COLLECTION] = SharedCollection(active, settings.collector_timeout, shared.begin_collection)
        try:
            yield
        finally:
            for collector in active:
                await collector.close()
            await shared.close()

    app.cleanup_ctx.append(collectors_ctx)
    app.router.add_get(settings.telemetry_path, metrics_handler)
    app.router.add_get("/", landing_handler)
    app.router.add_get("/-/healthy", healthy_handler)
    app.router.add_get("/-/ready", ready_handler)
    return app
