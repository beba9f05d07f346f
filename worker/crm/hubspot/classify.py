"""One place that decides what a HubSpot failure means (Fatal / Retriable / SessionExpired / Rejected).

Inputs are what hubspot-api-client raises: ``ApiException`` subclasses with ``status``, ``body`` (str)
and ``headers`` [A, PY rest.py], or urllib3/socket errors for transport failures. Every generated
package has its own exception classes, so this duck-types on ``status``/``body`` [A, reference §1.4].

- 429: Retriable, waiting for ``Retry-After`` or the 10-second interval [A, DOCS-USAGE]; ``DAILY``
  policy → QuotaExhausted (retrying before midnight cannot help).
- 5xx, status 0 (TLS), transport errors: Retriable.
- 401 EXPIRED_AUTHENTICATION (or any 401 when a refresh token exists): SessionExpired — refresh once.
- 401 otherwise, 403: Fatal (bad credentials, missing scopes).
- 400/404/409 and other 4xx: RecordRejected with HubSpot's category and message; never retried.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import urllib3.exceptions

from worker.errors import (
    CrmError,
    FatalError,
    QuotaExhaustedError,
    RecordRejectedError,
    RetriableError,
    SessionExpiredError,
)

MAX_MESSAGE = 500


def _body(exc: BaseException) -> dict[str, Any]:
    raw = getattr(exc, "body", None)
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if not raw:
        return {}
    try:
        doc = json.loads(raw)
    except ValueError:
        return {"message": str(raw)[:MAX_MESSAGE]}
    return doc if isinstance(doc, dict) else {}


def _header(exc: BaseException, name: str) -> str | None:
    headers = getattr(exc, "headers", None)
    if not headers:
        return None
    for k in headers:
        if str(k).lower() == name.lower():
            return str(headers[k])
    return None


def retry_wait_seconds(exc: BaseException) -> float | None:
    """Seconds to wait before retrying a 429, from ``Retry-After`` or the interval header."""
    ra = _header(exc, "Retry-After")
    if ra:
        try:
            return max(0.0, float(ra))
        except ValueError:
            pass
    interval = _header(exc, "X-HubSpot-RateLimit-Interval-Milliseconds")
    remaining = _header(exc, "X-HubSpot-RateLimit-Remaining")
    if interval and remaining == "0":
        return int(interval) / 1000
    return None


def classify(exc: BaseException, *, can_refresh: bool = False) -> CrmError:
    """Map any exception from a HubSpot call to the project's error tree (already-classified pass through)."""
    if isinstance(exc, CrmError):
        return exc
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        body = _body(exc)
        category = str(body.get("category") or body.get("errorType") or body.get("status") or "")
        message = str(body.get("message") or getattr(exc, "reason", "") or "")[:MAX_MESSAGE]
        text = f"HubSpot {status} {category}: {message}".strip()
        if status == 0:
            return RetriableError(f"HubSpot transport failure: {getattr(exc, 'reason', '')}", status=0)
        if status == 429:
            if body.get("policyName") == "DAILY":
                return QuotaExhaustedError(text, code="DAILY", status=429)
            return RetriableError(
                text,
                code=str(body.get("policyName") or "RATE_LIMIT"),
                status=429,
                wait_seconds=retry_wait_seconds(exc),
            )
        if status >= 500:
            return RetriableError(text, code=category or None, status=status)
        if status == 401:
            if category == "EXPIRED_AUTHENTICATION" or can_refresh:
                return SessionExpiredError(text, code=category or None, status=401)
            return FatalError(text, code=category or None, status=401)
        if status == 403:
            return FatalError(text, code=category or None, status=403)
        code = category
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict) and errors[0].get("code"):
            code = f"{category}:{errors[0]['code']}" if category else str(errors[0]["code"])
        return RecordRejectedError(text, code=code or None, status=status)
    if isinstance(
        exc,
        urllib3.exceptions.HTTPError | ConnectionError | TimeoutError | socket.timeout | OSError,
    ):
        return RetriableError(f"HubSpot transport failure: {type(exc).__name__}")
    return FatalError(f"Unexpected failure calling HubSpot: {type(exc).__name__}: {exc}"[:MAX_MESSAGE])
