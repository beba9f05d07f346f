"""The one failure classifier: a table of HubSpot answers → the project's error classes."""

from __future__ import annotations

import json
from typing import Any

import pytest
import urllib3
from hubspot.crm.contacts.exceptions import ApiException

from worker.crm.hubspot.classify import HubSpotRejectedError, PropertyProblem, classify
from worker.errors import (
    FatalError,
    QuotaExhaustedError,
    RecordRejectedError,
    RetriableError,
    SessionExpiredError,
)


def FakeApiError(
    status: int, body: dict[str, Any] | None, headers: dict[str, str] | None = None
) -> ApiException:
    """The client's real ``ApiException`` as ``__call_api`` leaves it: body decoded to str, headers set."""
    exc = ApiException(status=status, reason="reason")
    exc.body = json.dumps(body) if body is not None else ""
    exc.headers = headers or {}
    return exc


@pytest.mark.parametrize(
    ("status", "body", "expected", "code"),
    [
        (
            429,
            {"errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"},
            RetriableError,
            "TEN_SECONDLY_ROLLING",
        ),
        (429, {"errorType": "RATE_LIMIT", "policyName": "DAILY"}, QuotaExhaustedError, "DAILY"),
        (502, None, RetriableError, None),
        (503, {"category": "INTERNAL_ERROR"}, RetriableError, "INTERNAL_ERROR"),
        (401, {"category": "EXPIRED_AUTHENTICATION"}, SessionExpiredError, "EXPIRED_AUTHENTICATION"),
        (401, {"category": "INVALID_AUTHENTICATION"}, FatalError, "INVALID_AUTHENTICATION"),
        (403, {"category": "MISSING_SCOPES"}, FatalError, "MISSING_SCOPES"),
        (404, {"category": "OBJECT_NOT_FOUND"}, RecordRejectedError, "OBJECT_NOT_FOUND"),
        (
            409,
            {"category": "CONFLICT", "message": "Contact already exists. Existing ID: 5"},
            RecordRejectedError,
            "CONFLICT",
        ),
        (
            400,
            {"category": "VALIDATION_ERROR", "errors": [{"code": "INVALID_OPTION"}]},
            RecordRejectedError,
            "VALIDATION_ERROR:INVALID_OPTION",
        ),
    ],
)
def test_status_table(status: int, body: dict[str, Any] | None, expected: type, code: str | None) -> None:
    err = classify(FakeApiError(status, body))
    # rejections come as the HubSpot subclass carrying the parsed details; the rest exactly as listed
    assert type(err) is (HubSpotRejectedError if expected is RecordRejectedError else expected)
    assert err.code == code
    assert err.status == status


def test_429_wait_comes_from_retry_after() -> None:
    err = classify(FakeApiError(429, {"policyName": "SECONDLY"}, {"Retry-After": "3"}))
    assert isinstance(err, RetriableError) and err.wait_seconds == 3.0


def test_429_wait_falls_back_to_the_interval_header() -> None:
    headers = {"X-HubSpot-RateLimit-Remaining": "0", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}
    err = classify(FakeApiError(429, {"policyName": "TEN_SECONDLY_ROLLING"}, headers))
    assert isinstance(err, RetriableError) and err.wait_seconds == 10.0


def test_any_401_is_session_expired_when_a_refresh_token_exists() -> None:
    assert isinstance(
        classify(FakeApiError(401, {"category": "INVALID_AUTHENTICATION"}), can_refresh=True),
        SessionExpiredError,
    )


@pytest.mark.parametrize(
    "exc",
    [
        urllib3.exceptions.ProtocolError("Connection broken"),
        urllib3.exceptions.MaxRetryError(None, "/x"),  # type: ignore[arg-type]
        ConnectionResetError(),
        TimeoutError(),
    ],
)
def test_transport_failures_are_retriable(exc: BaseException) -> None:
    assert isinstance(classify(exc), RetriableError)


def test_status_zero_tls_failure_is_retriable() -> None:
    assert isinstance(classify(FakeApiError(0, None)), RetriableError)


def test_message_is_capped_and_keeps_hubspot_text() -> None:
    err = classify(FakeApiError(400, {"category": "VALIDATION_ERROR", "message": "x" * 5000}))
    assert len(str(err)) < 600 and str(err).startswith("HubSpot 400 VALIDATION_ERROR: xxx")


def test_rejection_details_are_parsed_here_not_in_the_adapter() -> None:
    """409 existing id, context.ids and the embedded "Property values were not valid" list."""
    conflict = classify(
        FakeApiError(409, {"category": "CONFLICT", "message": "Contact already exists. Existing ID: 77"})
    )
    assert isinstance(conflict, HubSpotRejectedError) and conflict.existing_id == "77"
    dupes = classify(
        FakeApiError(
            400,
            {
                "status": "error",
                "message": "Duplicate IDs found in batch input: [12877907025]. IDs must be unique",
                "context": {"ids": ["12877907025"]},
                "category": "VALIDATION_ERROR",
            },
        )
    )
    assert isinstance(dupes, HubSpotRejectedError) and dupes.ids == ("12877907025",)
    assert dupes.existing_id is None
    invalid = classify(
        FakeApiError(
            400,
            {
                "category": "VALIDATION_ERROR",
                "message": 'Property values were not valid: [{"isValid":false,"message":"Property '
                '\\"x\\" does not exist","error":"PROPERTY_DOESNT_EXIST","name":"x"}]',
            },
        )
    )
    assert isinstance(invalid, HubSpotRejectedError)
    assert invalid.problems == (PropertyProblem("x", "PROPERTY_DOESNT_EXIST"),)


# ------------------------------------------------------------------ the real shapes (issue 9 item 10)
def test_json_in_string_problems_give_the_code_and_the_refused_value() -> None:
    message = "Property values were not valid: " + json.dumps(
        [
            {
                "isValid": False,
                "message": "Email address x@ is invalid",
                "error": "INVALID_EMAIL",
                "name": "email",
            }
        ]
    )
    err = classify(FakeApiError(400, {"status": "error", "message": message, "category": "VALIDATION_ERROR"}))
    assert isinstance(err, HubSpotRejectedError)
    assert err.code == "VALIDATION_ERROR:INVALID_EMAIL"
    assert err.problems == (PropertyProblem("email", "INVALID_EMAIL", "x@"),)


def test_an_invalid_option_names_its_value() -> None:
    message = "Property values were not valid: " + json.dumps(
        [
            {
                "isValid": False,
                "message": "Maybe was not one of the allowed options: [NEW, OPEN]",
                "error": "INVALID_OPTION",
                "name": "hs_lead_status",
                "localizedErrorMessage": "Maybe was not one of the allowed options: [NEW, OPEN]",
            }
        ]
    )
    err = classify(FakeApiError(400, {"status": "error", "message": message, "category": "VALIDATION_ERROR"}))
    assert isinstance(err, HubSpotRejectedError)
    assert err.problems == (PropertyProblem("hs_lead_status", "INVALID_OPTION", "Maybe"),)


def test_a_generic_search_400_without_category_is_a_rejection_never_retried() -> None:
    body = {"status": "error", "message": "There was a problem with the request.", "correlationId": "c"}
    err = classify(FakeApiError(400, body))
    assert isinstance(err, HubSpotRejectedError) and not isinstance(err, RetriableError)
    assert err.code == "BAD_REQUEST" and err.problems == () and err.ids == ()
    assert "There was a problem with the request." in str(err)


def test_a_message_that_is_not_json_after_the_prefix_yields_no_problems() -> None:
    body = {
        "status": "error",
        "message": "Property values were not valid: [oops",
        "category": "VALIDATION_ERROR",
    }
    err = classify(FakeApiError(400, body))
    assert isinstance(err, HubSpotRejectedError) and err.problems == ()
    assert err.code == "VALIDATION_ERROR"
