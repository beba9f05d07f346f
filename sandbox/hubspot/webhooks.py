"""Webhook delivery: batches of events POSTed to the app's target URL with real signature headers.

[A, DOCS-VALID / CL-V3SIG] ``X-HubSpot-Signature-v3`` = base64(HMAC-SHA256(client_secret,
method + uri + body + timestamp)) with ``X-HubSpot-Request-Timestamp`` (epoch ms); app webhooks also
carry the legacy v1 ``X-HubSpot-Signature`` = hex(SHA256(client_secret + body)) with
``X-HubSpot-Signature-Version: v1``. Body is a JSON array, up to 100 events [C].
Retries [A-ish, legacy overview + staff answers, reference §6.1]: up to 10 on connection failure,
timeout, or any status except 400/401/403/404/405; exponential by attempt (first retry ~2 min with the
default ``retry_base_s`` of 60 — compressible in tests); each retry has a fresh timestamp and signature
and ``attemptNumber`` incremented; ``Retry-After`` on 429 is honoured.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx

from sandbox.hubspot import limits
from sandbox.hubspot.models import Backend

USER_AGENT = (
    "HubSpot Connect 2.0 (http://dev.hubspot.com/) (namespace: webhooks-nio-http-client) "
    "- WebhooksExecutorDaemon-executor"
)


# Percent-escapes HubSpot decodes in the request URI before computing the v3 signature, per its
# request-validation guide as remembered (unverified: the table could not be found in the stored docs).
V3_DECODED_ESCAPES = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
_ESCAPE = re.compile("|".join(V3_DECODED_ESCAPES), re.IGNORECASE)


def v3_signed_uri(uri: str) -> str:
    """The URI as HubSpot signs it: the escapes in ``V3_DECODED_ESCAPES`` decoded, everything else (the
    query string's order, other escapes) kept as sent [A, request-validation guide: the URI must match
    the request exactly, query included; the decode table is unverified]."""
    return _ESCAPE.sub(lambda m: V3_DECODED_ESCAPES[m.group(0).upper()], uri)


def sign_v3(client_secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    source = method.encode() + v3_signed_uri(uri).encode() + body + timestamp.encode()
    digest = hmac.new(client_secret.encode(), source, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def sign_v1(client_secret: str, body: bytes) -> str:
    return hashlib.sha256(client_secret.encode() + body).hexdigest()


@dataclass
class Delivery:
    """One POST attempt, kept for tests and the control surface."""

    attempt: int
    event_ids: list[int]
    status: int | None
    error: str | None
    at_ms: int


class WebhookDispatcher:
    """A background thread draining each portal's outbox; owned by the server, stopped with it."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.deliveries: list[Delivery] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._retries: list[tuple[float, int, int, list[dict[str, Any]], int]] = []
        self._seq = itertools.count()
        self._thread = threading.Thread(target=self._run, name="hubspot-webhooks", daemon=True)
        self._client = httpx.Client(timeout=5.0)
        backend.set_dispatcher_wake(self._wake.set)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)
        self._client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            timeout = 0.5
            if self._retries:
                timeout = max(0.0, min(timeout, self._retries[0][0] - time.monotonic()))
            self._wake.wait(timeout)
            self._wake.clear()
            if self._stop.is_set():
                return
            self._drain()
            self._due_retries()

    def _drain(self) -> None:
        with self.backend.lock:
            portals = list(self.backend.portals.values())
            window = max((p.webhooks.batch_window_s for p in portals), default=0.0)
        if window:
            time.sleep(window)
        for portal in portals:
            while True:
                with self.backend.lock:
                    batch: list[dict[str, Any]] = []
                    while portal.outbox and len(batch) < limits.WEBHOOK_MAX_EVENTS_PER_REQUEST:
                        batch.append(portal.outbox.popleft())
                if not batch:
                    break
                self._send(portal.id, batch, 0)

    def _due_retries(self) -> None:
        now = time.monotonic()
        while self._retries and self._retries[0][0] <= now:
            _, _, portal_id, events, attempt = heapq.heappop(self._retries)
            self._send(portal_id, events, attempt)

    def _send(self, portal_id: int, events: list[dict[str, Any]], attempt: int) -> None:
        with self.backend.lock:
            portal = self.backend.portals.get(portal_id)
            if portal is None or portal.webhooks.target_url is None:
                return
            cfg = portal.webhooks
            url, secret = cfg.target_url, cfg.client_secret
            now_ms = portal.clock.now_ms()
        assert url is not None
        for e in events:
            e["attemptNumber"] = attempt
        body = json.dumps(events, separators=(",", ":")).encode()
        ts = str(now_ms)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-HubSpot-Signature": sign_v1(secret, body),
            "X-HubSpot-Signature-Version": "v1",
            "X-HubSpot-Signature-v3": sign_v3(secret, "POST", url, body, ts),
            "X-HubSpot-Request-Timestamp": ts,
            "X-HubSpot-Timeout-Millis": str(int(cfg.timeout_s * 1000)),
        }
        status: int | None = None
        error: str | None = None
        retry_after: float | None = None
        try:
            resp = self._client.post(url, content=body, headers=headers, timeout=cfg.timeout_s)
            status = resp.status_code
            if status == 429 and resp.headers.get("Retry-After", "").isdigit():
                retry_after = float(resp.headers["Retry-After"])
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        self.deliveries.append(Delivery(attempt, [int(e["eventId"]) for e in events], status, error, now_ms))
        failed = status is None or not (200 <= status < 300)
        if failed and status not in limits.WEBHOOK_NO_RETRY_STATUSES and attempt < cfg.max_retries:
            delay = cfg.retry_base_s * (2 ** (attempt + 1))
            if retry_after is not None:
                delay = max(delay, retry_after)
            heapq.heappush(
                self._retries, (time.monotonic() + delay, next(self._seq), portal_id, events, attempt + 1)
            )
            self._wake.set()
