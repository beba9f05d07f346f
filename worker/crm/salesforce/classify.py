"""The one place that decides what a Salesforce failure means.

Routing follows the REST status codes (api_rest errorcodes.htm) and the error codes inside the JSON
array bodies; simple-salesforce maps statuses to exception classes (300/400/401/403/404/other) and keeps
the parsed body in ``.content`` (reference §0.5):

- 401 / INVALID_SESSION_ID → SessionExpiredError (re-authenticate once, then repeat the call).
- 403 REQUEST_LIMIT_EXCEEDED "TotalRequests Limit exceeded." → QuotaExhaustedError (the daily allocation
  resets over a rolling 24 h: stop, don't spin; airbytehq/airbyte#8690). Other REQUEST_LIMIT_EXCEEDED
  messages (concurrent long-running requests) are Retriable after a pause (salto-io/salto#3056).
- UNABLE_TO_LOCK_ROW (400) → Retriable (jsforce/jsforce#1018: "Retry is still your best bet").
- QUERY_TIMEOUT → Retriable, but query reads do not re-send the same query: ``changes`` narrows its
  SystemModstamp window instead (adapter ``_narrower``).
- 429 / 5xx / timeouts / connection resets → Retriable.
- Record-level DML errors (validation, picklist, converted lead, duplicates, missing fields, deleted or
  unknown record, 300 multiple external-id matches) → RecordRejectedError, never retried.
- Everything else (bad query, unknown field, 403 permissions, authentication failure) → FatalError.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceError

from worker.errors import (
    CrmError,
    FatalError,
    QuotaExhaustedError,
    RecordRejectedError,
    RetriableError,
    SessionExpiredError,
    raise_interrupt,
)

RETRIABLE_CODES = frozenset(
    {"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "UNKNOWN_EXCEPTION", "QUERY_TIMEOUT"}
)
RECORD_CODES = frozenset(
    {
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",  # an Apex trigger threw on this record
        "CANNOT_EXECUTE_FLOW_TRIGGER",  # a record-triggered flow faulted on this record
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "CANNOT_UPDATE_CONVERTED_LEAD",
        "DUPLICATES_DETECTED",
        "DUPLICATE_VALUE",
        "REQUIRED_FIELD_MISSING",
        "INVALID_EMAIL_ADDRESS",
        "STRING_TOO_LONG",
        "ENTITY_IS_DELETED",
        "NOT_FOUND",
        "INVALID_CROSS_REFERENCE_KEY",
        "MALFORMED_ID",
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        "FIELD_INTEGRITY_EXCEPTION",
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "MISSING_ARGUMENT",
        "INVALID_ID_FIELD",
        "ENTITY_IS_LOCKED",
        "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
        "MULTIPLE_CHOICES",
        "JSON_PARSER_ERROR",  # a value of the wrong type in the data we sent
    }
)
DAILY_LIMIT_MARK = "TotalRequests"
MAX_MESSAGE = 500


def _first_error(content: Any) -> tuple[str | None, str]:
    if isinstance(content, list) and content and isinstance(content[0], Mapping):
        item = content[0]
        code = item.get("errorCode") or item.get("statusCode")
        return (str(code) if code else None), str(item.get("message", ""))[:MAX_MESSAGE]
    if isinstance(content, list):  # 300: a list of record URLs
        return "MULTIPLE_CHOICES", "external id matches several records: " + ", ".join(map(str, content))[
            :MAX_MESSAGE
        ]
    return None, str(content)[:MAX_MESSAGE]


def classify_code(
    code: str | None, message: str, status: int | None, *, wait: float | None = None
) -> CrmError:
    """Decide from an error code (REST ``errorCode`` or SaveResult ``statusCode``) and status."""
    if code == "INVALID_SESSION_ID" or status == 401:
        return SessionExpiredError(message or "session expired", code=code, status=status)
    if code == "REQUEST_LIMIT_EXCEEDED":
        if DAILY_LIMIT_MARK in message or not message:
            return QuotaExhaustedError(
                message or "daily API request limit exceeded", code=code, status=status
            )
        return RetriableError(message, code=code, status=status, wait_seconds=wait)
    if code in RETRIABLE_CODES:
        return RetriableError(message, code=code, status=status)
    if code in RECORD_CODES or status == 300:
        return RecordRejectedError(message, code=code, status=status)
    if status is not None and (status == 429 or status >= 500):
        return RetriableError(message or f"HTTP {status}", code=code, status=status)
    return FatalError(message or f"HTTP {status}", code=code, status=status)


def classify(exc: BaseException, *, concurrent_limit_wait: float | None = None) -> CrmError:
    """Map any exception from a Salesforce call to the project's error tree."""
    raise_interrupt(exc)  # a task's time limit is not the CRM's failure
    if isinstance(exc, CrmError):
        return exc
    if isinstance(exc, SalesforceAuthenticationFailed):
        # Wrong credentials or an unapproved connected app: no retry helps. Never echo the request.
        return FatalError(f"Salesforce authentication failed: {exc.code}", code=str(exc.code))
    if isinstance(exc, SalesforceError):
        code, message = _first_error(exc.content)
        return classify_code(code, message, exc.status, wait=concurrent_limit_wait)
    if isinstance(
        exc, requests.Timeout | requests.ConnectionError | requests.exceptions.ChunkedEncodingError
    ):
        return RetriableError(
            f"{type(exc).__name__}: connection to Salesforce failed", code=type(exc).__name__
        )
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return classify_code(None, exc.response.text[:MAX_MESSAGE], exc.response.status_code)
    return FatalError(f"unexpected {type(exc).__name__} talking to Salesforce")


def classify_save_errors(errors: list[Mapping[str, Any]]) -> CrmError:
    """A failed SaveResult's ``errors`` list (sObject Collections) to the error tree."""
    if not errors:
        return RecordRejectedError("record failed without an error", code="UNKNOWN")
    first = errors[0]
    code = str(first.get("statusCode") or first.get("errorCode") or "UNKNOWN")
    message = str(first.get("message", ""))[:MAX_MESSAGE]
    err = classify_code(code, message, 400)
    if isinstance(err, FatalError):  # an unlisted per-record code is still about this record
        return RecordRejectedError(message, code=code, status=400)
    return err


class DuplicatesDetectedError(RecordRejectedError):
    """A save refused by the org's duplicate rules (``DUPLICATES_DETECTED``), with the ids of the
    records it matches (``matches``: Lead and Contact ids), so a create can link to the existing record
    where the map allows, or be dead-lettered naming the match."""

    def __init__(self, message: str, matches: tuple[str, ...], *, status: int | None = None) -> None:
        self.matches = matches
        named = f"; matches: {', '.join(matches)}" if matches else "; no match found by email or name"
        super().__init__(message + named, code="DUPLICATES_DETECTED", status=status)
