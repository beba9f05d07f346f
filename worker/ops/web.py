"""The admin API on the one web app (``worker.web.app`` mounts these routes):

- ``GET /readyz`` — 200 when Redis answers and the active map fits both CRMs (``worker.startup``'s
  check, which reaches both; cached for ``CRMSYNC_ADMIN_READY_CACHE_S``), else 503 naming what failed.
- ``GET /metrics`` — Prometheus text (``prometheus-client``), read from Redis at scrape time: gauges
  (dirty-set depth, leased keys, broker queue depth, dead letters by code, cursor lag, pauses, API
  budget left, audit length, backfill progress) and the workers' counters and change-to-write
  histogram (``worker.state.metrics``). Any process can serve them (nothing per process).
- ``GET /admin`` — the admin page (``worker.ops.page``; a login form sets a session cookie), with
  ``POST /admin/login``, ``POST /admin/resync`` (a dead-lettered person) and
  ``POST /admin/backfills/{id}/cancel`` behind it.
- ``GET /admin/status`` — the status document (``worker.ops.status``).
- ``POST /admin/backfills`` (JSON scope, ``worker.ops.backfill.BackfillSpec``) → 202 with the backfill;
  422 naming the problem when the scope is invalid or a CRM refuses it (nothing starts);
  ``GET /admin/backfills`` / ``GET /admin/backfills/{id}`` (progress, the CLI's numbers);
  ``DELETE /admin/backfills/{id}`` cancels.

``/admin/*`` needs ``Authorization: Bearer <CRMSYNC_ADMIN_TOKEN>`` (compared in constant time; 401
otherwise); without a token configured the admin routes are not mounted (404).
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from worker.errors import ConfigError, CrmSyncError, InputError
from worker.ops import page

Handler = Callable[[Request], Awaitable[Response]]
MAX_SCOPE_BYTES = 64 * 1024


class AdminSettings(BaseSettings):
    """The admin API (env prefix ``CRMSYNC_ADMIN_``)."""

    model_config = SettingsConfigDict(env_prefix="CRMSYNC_ADMIN_", extra="ignore")

    token: SecretStr | None = Field(
        None, description="Bearer token for /admin/* (24+ characters); unset: the admin routes are off."
    )
    ready_cache_s: float = Field(30.0, ge=0, description="How long /readyz reuses its last CRM check.")

    def check(self) -> None:
        if self.token is not None and len(self.token.get_secret_value()) < 24:
            raise ConfigError("CRMSYNC_ADMIN_TOKEN must be at least 24 characters")


class Ops:
    """What the admin routes need, built on first use (a web process that only receives webhooks never
    logs into a CRM)."""

    def __init__(self, redis_client: Any) -> None:
        self.redis = redis_client
        self._lock = threading.Lock()
        self._runtime: Any = None
        self._ready: tuple[float, str | None] = (0.0, None)

    def runtime(self) -> Any:
        with self._lock:
            if self._runtime is None:
                from worker.ops.context import runtime

                self._runtime = runtime()
            return self._runtime

    def status(self) -> dict[str, Any]:
        from worker.ops.cli import _broker
        from worker.ops.status import build_status

        rt = self.runtime()
        return build_status(rt.settings, rt.state, _broker(rt.settings))

    def not_ready(self, cache_s: float) -> str | None:
        """Why the service is not ready, or None."""
        self.redis.ping()
        at, why = self._ready
        if time.monotonic() - at < cache_s and at:
            return why
        from worker.startup import verify_map

        try:
            verify_map(self.runtime().settings)
            why = None
        except CrmSyncError as exc:
            why = str(exc).splitlines()[0][:300]
        self._ready = (time.monotonic(), why)
        return why


def _form(body: bytes) -> dict[str, str]:
    """An urlencoded form's first value per name (no multipart dependency for three small forms)."""
    parsed = parse_qs(body[:MAX_SCOPE_BYTES].decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in parsed.items()}


def _authorised(request: Request, token: str) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def _guard(token: str, handler: Handler) -> Handler:
    async def guarded(request: Request) -> Response:
        if not _authorised(request, token):
            return JSONResponse(
                {"error": "unauthorized", "message": "send Authorization: Bearer <CRMSYNC_ADMIN_TOKEN>"},
                401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return await handler(request)

    return guarded


def metric_families(status: dict[str, Any]) -> Iterator[Any]:
    """The status document as Prometheus gauges."""
    from prometheus_client.core import GaugeMetricFamily

    g = GaugeMetricFamily("crmsync_dirty_keys", "People waiting in a dirty set.", labels=["set"])
    for name, n in status["queues"]["dirty"].items():
        g.add_metric([name], n)
    yield g
    g = GaugeMetricFamily("crmsync_leased_keys", "People claimed by a worker right now.", labels=["set"])
    for name, n in status["queues"]["leased"].items():
        g.add_metric([name], n)
    yield g
    g = GaugeMetricFamily("crmsync_broker_messages", "Messages waiting per Celery queue.", labels=["queue"])
    for name, n in (status["queues"]["broker"] or {}).items():
        g.add_metric([name], n)
    yield g
    g = GaugeMetricFamily("crmsync_dead_letters", "Dead-lettered people by error code.", labels=["code"])
    for group in status["dead_letters"]["by_code"]:
        g.add_metric([group["code"]], group["count"])
    yield g
    lag = GaugeMetricFamily(
        "crmsync_cursor_lag_seconds", "How far a change reader is behind.", labels=["crm", "cursor"]
    )
    paused = GaugeMetricFamily("crmsync_paused", "1 while a CRM's work is paused.", labels=["crm"])
    budget = GaugeMetricFamily(
        "crmsync_api_budget_left", "API calls left in a budget window.", labels=["crm", "window"]
    )
    for crm, c in status["crms"].items():
        paused.add_metric([crm], 1 if c["paused"] else 0)
        for name, cur in c["cursors"].items():
            if cur["lag_s"] is not None:
                lag.add_metric([crm, name], cur["lag_s"])
        b = c.get("budget") or {}
        if "share_left" in b:
            budget.add_metric([crm, "daily_share"], b["share_left"])
        if "ten_second_left" in b:
            budget.add_metric([crm, "ten_seconds"], b["ten_second_left"])
            budget.add_metric([crm, "daily"], b["daily_left"])
    yield from (lag, paused, budget)
    yield GaugeMetricFamily(
        "crmsync_audit_entries", "Entries in the audit stream.", value=status["audit_entries"]
    )
    done = GaugeMetricFamily(
        "crmsync_backfill_done", "People done by a running backfill.", labels=["backfill"]
    )
    total = GaugeMetricFamily(
        "crmsync_backfill_total", "People in a running backfill's scope.", labels=["backfill"]
    )
    for b in status["backfills"]:
        done.add_metric([b["id"]], b["done"])
        total.add_metric([b["id"]], b["total"])
    yield from (done, total)


def admin_routes(redis_client: Any, settings: AdminSettings | None = None) -> list[Route]:
    """The routes above; the ``/admin`` ones only when a token is configured."""
    settings = settings or AdminSettings()
    settings.check()
    ops = Ops(redis_client)

    async def readyz(request: Request) -> Response:
        try:
            why = await run_in_threadpool(ops.not_ready, settings.ready_cache_s)
        except Exception as exc:  # Redis down, settings missing: not ready, and say why
            return JSONResponse({"status": "not ready", "reason": type(exc).__name__}, 503)
        if why is not None:
            return JSONResponse({"status": "not ready", "reason": why}, 503)
        return JSONResponse({"status": "ready"})

    async def metrics(request: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        from worker.state import metrics as worker_metrics

        status = await run_in_threadpool(ops.status)
        counted = await run_in_threadpool(worker_metrics.read, redis_client)

        class Snapshot:
            def collect(self) -> Iterator[Any]:
                yield from metric_families(status)
                yield from worker_metrics.families(counted)

        registry = CollectorRegistry(auto_describe=False)
        registry.register(Snapshot())
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    routes = [Route("/readyz", readyz, methods=["GET"]), Route("/metrics", metrics, methods=["GET"])]
    if settings.token is None:
        return routes
    token = settings.token.get_secret_value()

    async def status(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(ops.status))

    async def start_backfill(request: Request) -> Response:
        from worker.ops import backfill as bf

        body = await request.body()
        if len(body) > MAX_SCOPE_BYTES:
            return JSONResponse(
                {"error": "too_large", "message": f"a scope is at most {MAX_SCOPE_BYTES} bytes"}, 413
            )
        try:
            doc = json.loads(body or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            return JSONResponse({"error": "invalid_json", "message": f"the body is not JSON: {exc}"}, 400)

        def start() -> dict[str, Any]:
            spec = bf.parse_spec(doc)
            rt = ops.runtime()
            started = bf.start(rt.service, spec, bf.BackfillStore(rt.redis))
            from worker.ops.tasks import send_enumerate

            send_enumerate(started.id, rt.settings.broker)
            result: dict[str, Any] = started.to_json()
            return result

        try:
            started = await run_in_threadpool(start)
        except InputError as exc:
            return JSONResponse({"error": "invalid_scope", "message": str(exc)}, 422)
        return JSONResponse(started, 202, headers={"Location": f"/admin/backfills/{started['id']}"})

    async def list_backfills(request: Request) -> Response:
        from worker.ops.backfill import BackfillStore

        def docs() -> list[dict[str, Any]]:
            store = BackfillStore(redis_client)
            return [b.to_json() for i in store.ids() if (b := store.get(i)) is not None]

        return JSONResponse(await run_in_threadpool(docs))

    async def one_backfill(request: Request) -> Response:
        from worker.ops import backfill as bf

        bid = str(request.path_params["backfill_id"])
        store = bf.BackfillStore(redis_client)
        if request.method == "DELETE":
            try:
                b = await run_in_threadpool(bf.cancel, store, bid)
            except InputError as exc:
                return JSONResponse({"error": "not_found", "message": str(exc)}, 404)
            return JSONResponse(b.to_json())
        found = await run_in_threadpool(store.get, bid)
        if found is None:
            return JSONResponse({"error": "not_found", "message": f"no backfill {bid!r}"}, 404)
        return JSONResponse(found.to_json())

    session = page.session_value(token)

    def signed_in(request: Request) -> bool:
        cookie = request.cookies.get(page.COOKIE, "")
        return _authorised(request, token) or hmac.compare_digest(cookie.encode(), session.encode())

    async def admin_html(request: Request) -> Response:
        if not signed_in(request):
            return HTMLResponse(page.login_page())

        def render() -> str:
            from worker.ops.backfill import BackfillStore
            from worker.ops.reports import funnel

            rt = ops.runtime()
            store = BackfillStore(redis_client)
            backfills = [b.to_json() for i in store.ids(20) if (b := store.get(i)) is not None]
            rows = [r.to_json() for r in funnel(rt.state.audit.entries(), rt.service.cmap)]
            return page.admin_page(ops.status(), backfills, rows, request.query_params.get("note", "")[:300])

        return HTMLResponse(await run_in_threadpool(render))

    async def login(request: Request) -> Response:
        given = _form(await request.body()).get("token", "")
        if not hmac.compare_digest(given.encode(), token.encode()):
            return HTMLResponse(page.login_page("That token is not the admin token."), 401)
        answer = RedirectResponse("/admin", 303)
        secure = request.url.scheme == "https"
        answer.set_cookie(
            page.COOKIE, session, httponly=True, samesite="strict", secure=secure, path="/admin"
        )
        return answer

    async def resync_form(request: Request) -> Response:
        if not signed_in(request):
            return HTMLResponse(page.login_page("Sign in first."), 401)
        person = _form(await request.body()).get("person", "")

        def run() -> str:
            from worker.ops import resync as rs

            rt = ops.runtime()
            letter = rt.state.dead.get(person)
            keys = list(letter.record_keys) if letter and letter.record_keys else [person]
            report = rs.resync(rt.service, keys)
            return "; ".join(f"{p.person}: {p.disposition.value} ({p.detail})" for p in report.people)

        try:
            note = await run_in_threadpool(run)
        except InputError as exc:
            note = f"cannot resync {person!r}: {exc}"
        return RedirectResponse(f"/admin?{urlencode({'note': note[:300]})}", 303)

    async def cancel_form(request: Request) -> Response:
        if not signed_in(request):
            return HTMLResponse(page.login_page("Sign in first."), 401)
        from worker.ops import backfill as bf

        bid = str(request.path_params["backfill_id"])
        try:
            b = await run_in_threadpool(bf.cancel, bf.BackfillStore(redis_client), bid)
            note = f"{b.id}: {b.state}"
        except InputError as exc:
            note = str(exc)
        return RedirectResponse(f"/admin?{urlencode({'note': note})}", 303)

    return [
        *routes,
        Route("/admin", admin_html, methods=["GET"]),
        Route("/admin/login", login, methods=["POST"]),
        Route("/admin/resync", resync_form, methods=["POST"]),
        Route("/admin/backfills/{backfill_id}/cancel", cancel_form, methods=["POST"]),
        Route("/admin/status", _guard(token, status), methods=["GET"]),
        Route("/admin/backfills", _guard(token, start_backfill), methods=["POST"]),
        Route("/admin/backfills", _guard(token, list_backfills), methods=["GET"]),
        Route("/admin/backfills/{backfill_id}", _guard(token, one_backfill), methods=["GET", "DELETE"]),
    ]
