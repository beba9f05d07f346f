"""One place that decides what a HubSpot failure means (Fatal / Retriable / SessionExpired / Rejected).

Inputs are what hubspot-api-client raises: ``ApiException`` subclasses with ``status``, ``body`` (str)
and ``headers`` [A, PY rest.py], or urllib3/socket errors for transport failures. Every generated
package has its own exception classes, so this duck-types on ``status``/``body`` [A, reference §1.4].

- 429: Retriable, waiting for ``Retry-After`` or the 10-second interval [A, DOCS-USAGE]; ``DAILY``
  policy → QuotaExhausted (retrying before midnight cannot help).
- 5xx, status 0 (TLS), transport errors: Retriable.
- 401 EXPIRED_AUTHENTICATION (or any 401 when a refresh token exists): SessionExpired — refresh once.
- 401 otherwise, 403: Fatal (bad credentials, missing scopes).
- Real rejection bodies carry their detail in ``message``: "Property values were not valid: [...]" is a
  JSON list inside the string (code, property, and the refused value for INVALID_EMAIL/INVALID_OPTION),
  with no ``errors[].code`` [B, captured bodies]; many search 400s are the generic "There was a problem
  with the request." without ``category`` [B], classified ``BAD_REQUEST``.
- 400/404/409 and other 4xx: ``HubSpotRejectedError`` (a RecordRejectedError) with HubSpot's category
  and message; never retried. This is also the only place that reads a rejection's body: the error
  carries the parsed details the adapter acts on — ``existing_id`` from a 409 "Contact already exists.
  Existing ID: N" [B, hubspot-api-python #51], ``ids`` from ``context.ids`` (e.g. the 400 "Duplicate IDs
  found in batch input" [B, rudderlabs/rudder-transformer test/integrations/destinations/hs/
  dataDelivery/other.ts]) and ``problems`` (property name, error code, value) from a 400 "Property values
  were not valid: [...]" [B, Atlas-Authority/marketing-automation #174; csc-frodx #21].
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass
from typing import Any

import urllib3.exceptions

from worker.errors import (
    CrmError,
    FatalError,
    QuotaExhaustedError,
    RecordRejectedError,
    RetriableError,
    SessionExpiredError,
    raise_interrupt,
)

MAX_MESSAGE = 500
CONFLICT_ID = re.compile(r"Existing ID: (\d+)")
INVALID_VALUES_PREFIX = "Property values were not valid: "


@dataclass(frozen=True)
class PropertyProblem:
    """One entry of a "Property values were not valid" answer; ``value`` is the refused value when the
    message names it (INVALID_EMAIL "Email address V is invalid", INVALID_OPTION "V was not one of the
    allowed options: [...]") [B, captured bodies cited above]."""

    name: str
    error: str
    value: str | None = None


class HubSpotRejectedError(RecordRejectedError):
    """A HubSpot 4xx for the record(s) sent, with the details parsed out of HubSpot's body."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        ids: tuple[str, ...] = (),
        problems: tuple[PropertyProblem, ...] = (),
        existing_id: str | None = None,
    ) -> None:
        self.ids = ids
        self.problems = problems
        self.existing_id = existing_id
        super().__init__(message, code=code, status=status)


REFUSED_VALUE = {
    "INVALID_EMAIL": re.compile(r"^Email address (.*) is invalid$", re.S),
    "INVALID_OPTION": re.compile(r"^(.*) was not one of the allowed options", re.S),
}


def _refused_value(error: str, item: dict[str, Any]) -> str | None:
    pattern = REFUSED_VALUE.get(error)
    match = pattern.match(str(item.get("message") or "")) if pattern else None
    return match.group(1) if match else None


def _problems(body: dict[str, Any]) -> tuple[PropertyProblem, ...]:
    """Parse the JSON list HubSpot embeds in the message; fall back to ``errors[].context.propertyName``."""
    out: list[PropertyProblem] = []
    message = str(body.get("message") or "")
    if message.startswith(INVALID_VALUES_PREFIX):
        try:
            items = json.loads(message[len(INVALID_VALUES_PREFIX) :])
        except ValueError:
            items = []
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and item.get("name"):
                error = str(item.get("error") or "")
                out.append(PropertyProblem(str(item["name"]), error, _refused_value(error, item)))
    if out:
        return tuple(out)
    for e in body.get("errors") or []:
        if not isinstance(e, dict):
            continue
        names = (e.get("context") or {}).get("propertyName") or []
        for n in names if isinstance(names, list) else [names]:
            out.append(PropertyProblem(str(n), str(e.get("code") or "")))
    return tuple(out)


def _first_error_code(body: dict[str, Any]) -> str:
    """``errors[0].code`` when an answer has one (the SPEC ``Error`` schema allows it; most real
    answers carry none, so this is only a fallback after the message's own problem list)."""
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict) and errors[0].get("code"):
        return str(errors[0]["code"])
    return ""


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
    raise_interrupt(exc)  # a task's time limit is not the CRM's failure
    if isinstance(exc, CrmError):
        return exc
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        body = _body(exc)
        # ``status`` is "error" on most answers; only OAuth answers put a code there (BAD_CLIENT_ID)
        oauth_status = body.get("status") if body.get("status") != "error" else None
        category = str(body.get("category") or body.get("errorType") or oauth_status or "")
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
        problems = _problems(body)
        code = category or ("BAD_REQUEST" if status == 400 else "")
        detail = problems[0].error if problems and problems[0].error else _first_error_code(body)
        if detail:
            code = f"{code}:{detail}" if code else detail
        ids = (body.get("context") or {}).get("ids") if isinstance(body.get("context"), dict) else None
        conflict = CONFLICT_ID.search(message) if status == 409 else None
        return HubSpotRejectedError(
            text,
            code=code or None,
            status=status,
            ids=tuple(str(i) for i in ids) if isinstance(ids, list) else (),
            problems=problems,
            existing_id=conflict.group(1) if conflict else None,
        )
    if isinstance(
        exc,
        urllib3.exceptions.HTTPError | ConnectionError | TimeoutError | socket.timeout | OSError,
    ):
        return RetriableError(f"HubSpot transport failure: {type(exc).__name__}")
    return FatalError(f"Unexpected failure calling HubSpot: {type(exc).__name__}: {exc}"[:MAX_MESSAGE])
