"""The ASGI app, the in-process ``HubSpotSandbox`` for tests/benches, and ``serve()`` for the CLI.

Real clients reach only the routes in ``routes.py``; ``/_sandbox/...`` is the control surface (reset,
seed, faults, settings, clock, webhooks, OAuth token issuing, stats) and takes no auth.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.hubspot import limits
from sandbox.hubspot.errors import HubSpotError, InternalError, ValidationError
from sandbox.hubspot.models import (
    DEFAULT_PRIVATE_APP_TOKEN,
    Actor,
    ApiRequest,
    Backend,
    Portal,
)
from sandbox.hubspot.responses import Ctx
from sandbox.hubspot.routes import ROUTES, Handler
from sandbox.hubspot.seed import DAY_MS, seed_portal
from sandbox.hubspot.webhooks import WebhookDispatcher

JSON_TYPE = "application/json;charset=utf-8"


def _error_response(exc: HubSpotError, extra_headers: dict[str, str] | None = None) -> Response:
    headers = {**(extra_headers or {}), **exc.headers}
    return Response(json.dumps(exc.body()), status_code=exc.status, media_type=JSON_TYPE, headers=headers)


def _endpoint(backend: Backend, handler: Handler, kind: str) -> Any:
    async def endpoint(request: Request) -> Response:
        raw = await request.body()
        body: Any = None
        ctype = request.headers.get("content-type", "")
        try:
            if ctype.startswith("application/x-www-form-urlencoded"):
                body = dict(parse_qsl(raw.decode()))
            elif raw:
                body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return _error_response(ValidationError("Invalid input JSON on line 1"))
        rate_headers: dict[str, str] = {}
        with backend.lock:
            try:
                if kind == "public":
                    portal, app_id = backend.portal, 0
                elif kind == "developer":
                    app_id = backend.auth.developer_app(request.query_params.get("hapikey"))
                    portal = backend.portal
                else:
                    portal_id, app_id, oauth = backend.auth.authenticate(request.headers.get("authorization"))
                    portal = backend.portals[portal_id]
                    rate_headers = portal.limiter.check(
                        portal.settings.tier, search=kind == "search", oauth=oauth, app_id=app_id
                    )
                    portal.requests.append(ApiRequest(request.method, request.url.path))
                actor = Actor("INTEGRATION", str(app_id), app_id)
                try:
                    status, doc = handler(Ctx(request, portal, actor, body))
                except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
                    # Input of the wrong shape: HubSpot answers 400 "Invalid input JSON ..." [B, php #40]
                    raise ValidationError(f"Invalid input JSON: {type(exc).__name__}") from exc
            except HubSpotError as exc:
                return _error_response(exc, rate_headers)
        if doc is None:
            return Response(status_code=status, headers=rate_headers)
        return Response(json.dumps(doc), status_code=status, media_type=JSON_TYPE, headers=rate_headers)

    return endpoint


class FaultGate:
    """Raw ASGI wrapper applying armed faults: delay, an error status, or a dropped connection."""

    def __init__(self, app: ASGIApp, backend: Backend) -> None:
        self.app = app
        self.backend = backend

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox"):
            await self.app(scope, receive, send)
            return
        with self.backend.lock:
            fault = self.backend.take_fault(scope["path"]) if self.backend.faults else None
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault.get("delay_ms"):
            await asyncio.sleep(fault["delay_ms"] / 1000)
        if fault.get("drop_after"):
            # The request is handled (a write commits), then the answer is lost on the way back: a
            # proxy or load balancer dropping the connection after forwarding.
            async def discard(message: Message) -> None:
                return None

            await self.app(scope, receive, discard)
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1000")]}
            )
            await send({"type": "http.response.body", "body": b"{", "more_body": True})
            return
        if fault.get("drop"):
            # Start a response, send part of it, then return: the server closes the connection mid-body.
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1000")]}
            )
            await send({"type": "http.response.body", "body": b"{", "more_body": True})
            return
        if fault.get("status") and isinstance(fault.get("body"), dict):
            # a recorded real answer replayed verbatim (e.g. a 400 the sandbox cannot provoke)
            body = json.dumps(fault["body"]).encode()
            await Response(body, status_code=int(fault["status"]), media_type=JSON_TYPE)(scope, receive, send)
            return
        if fault.get("status"):
            exc = InternalError(int(fault["status"]))
            await _error_response(exc)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class ControlError(Exception):
    """Bad input to the ``/_sandbox`` control surface: answered 400 ``{"error": …}``, nothing changed."""


async def _control_error(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": str(exc)}, status_code=400)


async def _control_json(request: Request) -> dict[str, Any]:
    try:
        doc = json.loads(await request.body() or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ControlError("body must be a JSON object") from None
    if not isinstance(doc, dict):
        raise ControlError("body must be a JSON object")
    return doc


def _int_field(
    doc: dict[str, Any], name: str, default: int, *, minimum: int = 0, maximum: int = 2**31
) -> int:
    raw = doc.get(name, default)
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int) or not minimum <= raw <= maximum:
        raise ControlError(f"{name} must be an integer between {minimum} and {maximum}")
    return raw


FAULT_FIELDS = {"path_prefix", "status", "delay_ms", "drop", "count", "skip", "body"}


def check_fault(doc: dict[str, Any]) -> dict[str, Any]:
    """A fault as the gate will use it, or ``ControlError``: a malformed fault must be refused when armed,
    not break every later call (issue 12 item 9)."""
    unknown = set(doc) - FAULT_FIELDS
    if unknown:
        raise ControlError(f"unknown fault fields: {sorted(unknown)}")
    prefix = doc.get("path_prefix", "")
    if not isinstance(prefix, str) or (prefix and not prefix.startswith("/")):
        raise ControlError("path_prefix must be a path string starting with /")
    fault: dict[str, Any] = {"path_prefix": prefix, "drop": doc.get("drop", False), "skip": 0}
    if not isinstance(fault["drop"], bool):
        raise ControlError("drop must be true or false")
    fault["skip"] = _int_field(doc, "skip", 0, maximum=10**6)
    if "status" in doc:
        fault["status"] = _int_field(doc, "status", 0, minimum=100, maximum=599)
    if "delay_ms" in doc:
        fault["delay_ms"] = _int_field(doc, "delay_ms", 0, maximum=600_000)
    if "count" in doc:
        fault["count"] = _int_field(doc, "count", 1, minimum=1, maximum=10**6)
    if "body" in doc:
        if not isinstance(doc["body"], dict) or "status" not in fault:
            raise ControlError("body must be a JSON object and needs status")
        fault["body"] = doc["body"]
    if not (fault["drop"] or "status" in fault or "delay_ms" in fault):
        raise ControlError("a fault needs status, delay_ms or drop")
    return fault


def _control_routes(sandbox: HubSpotSandbox) -> list[Route]:
    backend = sandbox.backend

    async def reset(request: Request) -> Response:
        sandbox.reset()
        return JSONResponse({"ok": True})

    async def seed(request: Request) -> Response:
        doc = await _control_json(request)
        contacts = _int_field(doc, "contacts", 0, maximum=2_000_000)
        seed_value = _int_field(doc, "seed", 0)
        span_ms = _int_field(doc, "span_ms", DAY_MS * 30, minimum=0, maximum=DAY_MS * 365)
        with backend.lock:
            seed_portal(backend.portal, contacts, seed_value, span_ms=span_ms)
        return JSONResponse({"ok": True, "contacts": len(backend.portal.stores["contacts"].records)})

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            with backend.lock:
                backend.faults.clear()
                return JSONResponse({"faults": backend.faults})
        fault = check_fault(await _control_json(request))
        with backend.lock:
            backend.faults.append(fault)
            return JSONResponse({"faults": backend.faults})

    async def settings(request: Request) -> Response:
        doc = await _control_json(request)
        known = {"lifecycle_mode", "index_lag_ms", "index_lag_jitter_ms", "tier", "batch_order_seed"}
        unknown = set(doc) - known
        if unknown:
            raise ControlError(f"unknown settings: {sorted(unknown)}")
        try:
            sandbox.configure(**doc)
        except (TypeError, ValueError) as exc:
            raise ControlError(str(exc)) from exc
        with backend.lock:
            s = backend.portal.settings
            return JSONResponse(
                {
                    "lifecycle_mode": s.lifecycle_mode,
                    "index_lag_ms": s.index_lag_ms,
                    "index_lag_jitter_ms": s.index_lag_jitter_ms,
                    "batch_order_seed": s.batch_order_seed,
                    "tier": asdict(s.tier),
                }
            )

    async def clock(request: Request) -> Response:
        doc = await _control_json(request)
        sandbox.advance_clock(_int_field(doc, "advance_ms", 0, minimum=-(10**12), maximum=10**12))
        return JSONResponse({"now_ms": backend.clock.now_ms()})

    async def webhooks(request: Request) -> Response:
        doc = await _control_json(request)
        try:
            sandbox.configure_webhooks(**doc)
        except (TypeError, ValueError) as exc:
            raise ControlError(str(exc)) from exc
        return JSONResponse({"ok": True})

    async def deliveries(request: Request) -> Response:
        return JSONResponse([asdict(d) for d in sandbox.dispatcher.deliveries])

    async def oauth(request: Request) -> Response:
        doc = await _control_json(request) if await request.body() else {}
        ttl = _int_field(doc, "ttl_s", 0, minimum=0, maximum=10**9) or None
        access, refresh = sandbox.issue_oauth_tokens(ttl)
        return JSONResponse({"access_token": access, "refresh_token": refresh})

    async def requests(request: Request) -> Response:
        """The request log: every accepted API request, oldest first; DELETE clears it."""
        with backend.lock:
            log = backend.portal.requests
            if request.method == "DELETE":
                log.clear()
                return JSONResponse({"ok": True})
            return JSONResponse([r.as_json() for r in log])

    async def stats(request: Request) -> Response:
        with backend.lock:
            lim = backend.portal.limiter
            return JSONResponse(
                {"accepted": lim.accepted, "throttled": lim.throttled, "daily": lim.daily_count}
            )

    return [
        Route("/_sandbox/reset", reset, methods=["POST"]),
        Route("/_sandbox/seed", seed, methods=["POST"]),
        Route("/_sandbox/faults", faults, methods=["POST", "DELETE"]),
        Route("/_sandbox/settings", settings, methods=["POST"]),
        Route("/_sandbox/clock", clock, methods=["POST"]),
        Route("/_sandbox/webhooks", webhooks, methods=["POST"]),
        Route("/_sandbox/webhooks/deliveries", deliveries, methods=["GET"]),
        Route("/_sandbox/oauth/tokens", oauth, methods=["POST"]),
        Route("/_sandbox/stats", stats, methods=["GET"]),
        Route("/_sandbox/requests", requests, methods=["GET", "DELETE"]),
    ]


class HubSpotSandbox:
    """An emulated HubSpot on a loopback port, in a background thread; use as a context manager.

    ``base_url`` is what to pass to ``hubspot.HubSpot(host=..., base_url=...)``; ``token`` is a valid
    private-app token; ``portal`` gives direct model access for assertions and fast setup.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        seed: int = 0,
        tier: limits.RateLimitTier | None = None,
        index_lag_ms: int | None = None,
    ) -> None:
        self.backend = Backend()
        self._index_lag_ms = index_lag_ms
        self.dispatcher = WebhookDispatcher(self.backend)
        self.token = DEFAULT_PRIVATE_APP_TOKEN
        self._seed = seed
        self._tier = tier
        routes = [Route(path, _endpoint(self.backend, h, kind), methods=[m]) for m, path, h, kind in ROUTES]
        self.app = FaultGate(
            Starlette(
                routes=_control_routes(self) + routes,
                exception_handlers={ControlError: _control_error},
            ),
            self.backend,
        )
        config = uvicorn.Config(
            self.app, host=host, port=port, log_level="warning", lifespan="off", access_log=False
        )
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self.reset()

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> HubSpotSandbox:
        self.dispatcher.start()
        self._thread = threading.Thread(target=self.server.run, name="hubspot-sandbox", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("HubSpot sandbox did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.dispatcher.stop()

    def __enter__(self) -> HubSpotSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        sock = self.server.servers[0].sockets[0]
        host, port = sock.getsockname()[:2]
        return f"http://{host}:{port}"

    @property
    def portal(self) -> Portal:
        return self.backend.portal

    # ---------------------------------------------------------------- control
    def reset(self) -> None:
        self.backend.reset()
        if self._tier is not None:
            self.backend.portal.settings.tier = self._tier
        if self._index_lag_ms is not None:
            self.backend.portal.settings.index_lag_ms = self._index_lag_ms
        if self._seed:
            with self.backend.lock:
                seed_portal(self.backend.portal, self._seed, 0)

    def configure(
        self,
        *,
        lifecycle_mode: str | None = None,
        index_lag_ms: int | None = None,
        tier: str | dict[str, Any] | limits.RateLimitTier | None = None,
        batch_order_seed: int | None = None,
        index_lag_jitter_ms: int | None = None,
    ) -> None:
        """Change portal switches; a bad value raises ``ValueError`` and changes nothing."""
        for name, lag in (("index_lag_ms", index_lag_ms), ("index_lag_jitter_ms", index_lag_jitter_ms)):
            bad = isinstance(lag, bool) or not isinstance(lag, int) or not 0 <= lag <= 600_000
            if lag is not None and bad:
                raise ValueError(f"{name} must be an integer between 0 and 600000")
        if batch_order_seed is not None and (
            isinstance(batch_order_seed, bool) or not isinstance(batch_order_seed, int)
        ):
            raise ValueError("batch_order_seed must be an integer")
        if isinstance(tier, str) and tier not in limits.TIERS:
            raise ValueError(f"tier must be one of {sorted(limits.TIERS)}")
        if isinstance(tier, dict):
            tier = limits.RateLimitTier(**tier)
        with self.backend.lock:
            s = self.backend.portal.settings
            if lifecycle_mode is not None:
                if lifecycle_mode not in ("silent", "reject", "allow"):
                    raise ValueError(
                        f"lifecycle_mode must be silent, reject or allow, not {lifecycle_mode!r}"
                    )
                s.lifecycle_mode = lifecycle_mode
            if index_lag_ms is not None:
                s.index_lag_ms = index_lag_ms
            if index_lag_jitter_ms is not None:
                s.index_lag_jitter_ms = index_lag_jitter_ms
            if batch_order_seed is not None:
                s.batch_order_seed = batch_order_seed
                self.backend.portal.reseed_order()
            if isinstance(tier, str):
                s.tier = limits.RateLimitTier(**asdict(limits.TIERS[tier]))
            elif tier is not None:
                s.tier = tier

    def arm_fault(
        self,
        *,
        path_prefix: str = "/crm",
        status: int | None = None,
        delay_ms: int | None = None,
        drop: bool = False,
        drop_after: bool = False,
        count: int | None = None,
        skip: int = 0,
        body: dict[str, Any] | None = None,
    ) -> None:
        """``drop``: the connection drops before the request is handled; ``drop_after``: the request is
        handled (writes commit), then the answer is lost."""
        fault: dict[str, Any] = {"path_prefix": path_prefix, "drop": drop, "skip": skip}
        if drop_after:
            fault["drop_after"] = True
        if body is not None:
            fault["body"] = body
        if status is not None:
            fault["status"] = status
        if delay_ms is not None:
            fault["delay_ms"] = delay_ms
        if count is not None:
            fault["count"] = count
        with self.backend.lock:
            self.backend.faults.append(fault)

    def clear_faults(self) -> None:
        with self.backend.lock:
            self.backend.faults.clear()

    def advance_clock(self, ms: int) -> None:
        with self.backend.lock:
            self.backend.clock.offset_ms += ms

    def configure_webhooks(self, **fields: Any) -> None:
        """Set webhook delivery fields; every value is checked before any is set (``ValueError``)."""
        kinds: dict[str, tuple[type, ...]] = {
            "target_url": (str, type(None)),
            "client_secret": (str,),
            "app_id": (int,),
            "subscriptions": (list, set, tuple),
            "property_names": (list, set, tuple, type(None)),
            "max_concurrent_requests": (int,),
            "retry_base_s": (int, float),
            "max_retries": (int,),
            "timeout_s": (int, float),
            "batch_window_s": (int, float),
        }
        values: dict[str, Any] = {}
        for k, v in fields.items():
            if k not in kinds:
                raise ValueError(f"unknown webhook setting {k}")
            if isinstance(v, bool) or not isinstance(v, kinds[k]):
                raise ValueError(f"webhook setting {k} has the wrong type")
            if isinstance(v, int | float) and v < 0:
                raise ValueError(f"webhook setting {k} must not be negative")
            if isinstance(v, list | set | tuple):
                if not all(isinstance(x, str) for x in v):
                    raise ValueError(f"webhook setting {k} must be a list of strings")
                values[k] = set(v)
            else:
                values[k] = v
        with self.backend.lock:
            cfg = self.backend.portal.webhooks
            for k, v in values.items():
                setattr(cfg, k, v)

    def issue_oauth_tokens(self, ttl_s: int | None = None) -> tuple[str, str]:
        with self.backend.lock:
            cfg = self.backend.portal.webhooks
            return self.backend.auth.issue_oauth(self.backend.portal.id, cfg.app_id, ttl_s)

    def client(self, access_token: str | None = None, **kwargs: Any) -> Any:
        """A real ``hubspot.HubSpot`` pointed here (host for generated APIs, base_url for api_request)."""
        from hubspot import HubSpot

        return HubSpot(
            access_token=access_token or self.token, host=self.base_url, base_url=self.base_url, **kwargs
        )


def serve(
    host: str, port: int, seed: int, sock: socket.socket | None = None, index_lag_ms: int | None = None
) -> None:
    """Run the emulator until interrupted (``crmsync sandbox hubspot``); prints the base URL.

    ``sock``, already bound (the CLI binds first so a port in use fails before any banner), decides
    the port; ``index_lag_ms`` overrides the default search-index lag (``DEFAULT_INDEX_LAG_MS``)."""
    if sock is not None:
        port = int(sock.getsockname()[1])
    sandbox = HubSpotSandbox(host, port, seed=seed, index_lag_ms=index_lag_ms)
    sandbox.dispatcher.start()
    print(f"HubSpot sandbox on http://{host}:{port} (token {sandbox.token})", flush=True)
    try:
        sandbox.server.run(sockets=[sock] if sock is not None else None)
    finally:
        sandbox.dispatcher.stop()
