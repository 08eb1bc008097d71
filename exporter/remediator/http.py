"""The remediator's HTTP side: `/alerts` (Alertmanager's webhook), `/metrics`, the landing
page with the recent actions, `/-/healthy` and `/-/ready`. The same web config as the
exporter (TLS, client certificates, basic auth); a request without valid credentials gets
401, is audited, and does nothing."""

from __future__ import annotations

import html
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from exporter import __version__
from exporter.http import credentials, headers_middleware
from exporter.remediator.engine import Engine
from exporter.remediator.webhook import MAX_BODY_BYTES, PayloadError, parse_payload
from exporter.webconfig import PasswordChecker, WebConfig

ENGINE = web.AppKey("engine", Engine)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _peer(request: web.Request) -> str:
    return str(request.remote or "")


def auth_middleware(checker: PasswordChecker, engine: Engine) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        user, password = credentials(request.headers.get("Authorization", ""))
        if user is None or not await checker.check(user, password):
            engine.telemetry.requests.labels("unauthorized").inc()
            await engine.audit.write(
                "request", remote=_peer(request), path=request.path, user=user or "", result="unauthorized"
            )
            raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Basic realm="kvm-remediator"'})
        request["user"] = user
        return await handler(request)

    return middleware


async def alerts_handler(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    meta = {"remote": _peer(request), "user": request.get("user", "")}
    try:
        alerts = parse_payload(await request.read())
    except PayloadError as exc:
        engine.telemetry.requests.labels("bad_payload").inc()
        await engine.audit.write("request", **meta, path=request.path, result="bad_payload", reason=str(exc))
        raise web.HTTPBadRequest(text=f"not an Alertmanager webhook (version 4) payload: {exc}\n") from None
    try:
        await engine.handle(alerts, meta)
    except OSError as exc:
        engine.telemetry.requests.labels("audit_failed").inc()
        raise web.HTTPServiceUnavailable(text=f"audit log not writable: {exc}\n") from None
    engine.telemetry.requests.labels("accepted").inc()
    return web.json_response({"status": "accepted", "alerts": len(alerts)})


async def metrics_handler(request: web.Request) -> web.Response:
    body = generate_latest(request.app[ENGINE].telemetry.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def landing_handler(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(value))}</td>"
            for value in (
                time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(entry["at"])),
                entry["alert"],
                entry["action"],
                entry["target"],
                entry["mode"],
                entry["result"],
                entry["detail"],
                f"{entry['duration']:.3f}s",
            )
        )
        + "</tr>"
        for entry in reversed(engine.recent)
    )
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>kvm-remediator</title></head>"
        f"<body><h1>kvm-remediator {__version__}</h1><p>Mode: <b>{engine.mode}</b>. Acting for: "
        f"{html.escape(', '.join(sorted(engine.instances)))}. <a href='/metrics'>Metrics</a></p>"
        "<h2>Recent actions</h2><table border='1'><tr><th>at</th><th>alert</th><th>action</th><th>target</th>"
        "<th>mode</th><th>result</th><th>detail</th><th>took</th></tr>" + rows + "</table></body></html>"
    )
    return web.Response(
        body=page.encode("utf-8", "backslashreplace"), content_type="text/html", charset="utf-8"
    )


async def healthy_handler(_: web.Request) -> web.Response:
    return web.Response(text="Healthy.\n")


async def ready_handler(_: web.Request) -> web.Response:
    return web.Response(text="Ready.\n")


def create_app(engine: Engine, web_config: WebConfig) -> web.Application:
    middlewares = []
    if web_config.headers:
        middlewares.append(headers_middleware(web_config.headers))
    if web_config.basic_auth_users:
        middlewares.append(auth_middleware(PasswordChecker(web_config.basic_auth_users), engine))
    app = web.Application(middlewares=middlewares, client_max_size=MAX_BODY_BYTES)
    app[ENGINE] = engine
    app.router.add_post("/alerts", alerts_handler)
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/", landing_handler)
    app.router.add_get("/-/healthy", healthy_handler)
    app.router.add_get("/-/ready", ready_handler)
    return app
