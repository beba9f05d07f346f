"""The receivers' one web app: every change signal from either CRM lands in a Redis dirty set.

Routes (each mounted only when its secret or org is configured; otherwise 404):
- ``POST /webhooks/hubspot`` — HubSpot webhooks v3 (``worker.web.hubspot``), into the ``hubspot``
  dirty set; needs ``CRMSYNC_HUBSPOT_APP_SECRET``.
- ``POST /webhooks/salesforce/outbound`` — Outbound Messages (``worker.web.salesforce``), into the
  ``salesforce`` dirty set; needs ``CRMSYNC_WEB_SALESFORCE_ORG_ID``.
- ``POST /webhooks/salesforce/changes`` — JSON callouts from Flow/Apex; needs
  ``CRMSYNC_WEB_CALLOUT_SECRET``.
- ``GET /healthz`` — 200 ``{"status": "ok", "receivers": [...]}`` when Redis answers a PING, else 503.

Every route sits behind ``worker.web.limits.RequestLimits``. Event markers (dedupe) live in Redis
next to the dirty sets, so every web process and every uvicorn worker shares them: a retry delivered
to another process is still recorded once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from worker.crm.hubspot.settings import HubSpotSettings
from worker.errors import ConfigError
from worker.ops.web import admin_routes
from worker.state.dirty import DirtySet
from worker.web.hubspot import hubspot_route
from worker.web.limits import RequestLimits
from worker.web.salesforce import callout_route, outbound_route
from worker.web.settings import WebSettings


def create_app(
    web: WebSettings,
    redis_client: Any,
    hubspot: HubSpotSettings | None = None,
    *,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """Mount every configured receiver; refuses to start with none configured."""
    routes: list[Route] = []
    names: list[str] = []
    if hubspot is not None and hubspot.app_secret is not None:
        routes.append(hubspot_route(hubspot, DirtySet(redis_client, "hubspot"), web, clock=clock))
        names.append("hubspot")
    salesforce = DirtySet(redis_client, "salesforce")
    if web.salesforce_org_id:
        routes.append(outbound_route(web.salesforce_org_id, salesforce, web))
        names.append("salesforce-outbound")
    if web.callout_secret is not None:
        routes.append(callout_route(web.callout_secret.get_secret_value(), salesforce, web))
        names.append("salesforce-callout")
    admin = admin_routes(redis_client)  # /readyz, /metrics, /admin/* (worker/ops/web.py)
    if not routes and len(admin) <= 2:
        raise ConfigError(
            "no receiver configured: set CRMSYNC_HUBSPOT_APP_SECRET, CRMSYNC_WEB_SALESFORCE_ORG_ID "
            "and/or CRMSYNC_WEB_CALLOUT_SECRET (or CRMSYNC_ADMIN_TOKEN for the admin API alone)"
        )

    async def healthz(request: Request) -> JSONResponse:
        try:
            await run_in_threadpool(redis_client.ping)
        except (redis.ConnectionError, redis.TimeoutError):
            return JSONResponse({"status": "redis unavailable", "receivers": names}, 503)
        return JSONResponse({"status": "ok", "receivers": names})

    routes.append(Route("/healthz", healthz, methods=["GET"]))
    routes += admin
    app = Starlette(routes=routes)
    app.add_middleware(RequestLimits, max_body_bytes=web.max_body_bytes, body_timeout_s=web.body_timeout_s)
    return app


def redis_client(url: str) -> redis.Redis:
    """A client that fails fast: one quick retry (a dropped idle connection), then the receiver
    answers 503 and the CRM re-sends, instead of holding the request through redis-py's default
    back-off (about 4 s, close to HubSpot's 5 s timeout)."""
    return redis.Redis.from_url(
        url,
        socket_timeout=2,
        socket_connect_timeout=1,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), 1),
    )


def app_from_env() -> Starlette:
    """The app as configured by the environment (uvicorn's ``--factory`` entry point); the project's
    log lines as ``CRMSYNC_LOG_FORMAT`` says (``worker.logs``), in every uvicorn worker process."""
    from worker.logs import configure

    configure()
    web = WebSettings()
    return create_app(web, redis_client(web.redis_url.get_secret_value()), HubSpotSettings())
