"""One classify(): status and error code → the project's error tree."""

from __future__ import annotations

import pytest
import requests
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from worker.crm.salesforce.classify import classify, classify_save_errors
from worker.errors import (
    FatalError,
    QuotaExhaustedError,
    RecordRejectedError,
    RetriableError,
    SessionExpiredError,
)

URL = "https://127.0.0.1/services/data/v59.0/query/"


def body(code: str, message: str = "m") -> list[dict[str, str]]:
    return [{"errorCode": code, "message": message}]


@pytest.mark.parametrize(
    ("exc", "kind", "code"),
    [
        (
            SalesforceExpiredSession(URL, 401, "q", body("INVALID_SESSION_ID")),
            SessionExpiredError,
            "INVALID_SESSION_ID",
        ),
        (
            SalesforceRefusedRequest(
                URL, 403, "q", body("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            ),
            QuotaExhaustedError,
            "REQUEST_LIMIT_EXCEEDED",
        ),
        (
            SalesforceRefusedRequest(
                URL, 403, "q", body("REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.")
            ),
            RetriableError,
            "REQUEST_LIMIT_EXCEEDED",
        ),
        (
            SalesforceRefusedRequest(URL, 403, "q", body("INSUFFICIENT_ACCESS")),
            FatalError,
            "INSUFFICIENT_ACCESS",
        ),
        (
            SalesforceMalformedRequest(URL, 400, "q", body("UNABLE_TO_LOCK_ROW")),
            RetriableError,
            "UNABLE_TO_LOCK_ROW",
        ),
        (
            SalesforceMalformedRequest(URL, 400, "q", body("FIELD_CUSTOM_VALIDATION_EXCEPTION")),
            RecordRejectedError,
            "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        ),
        (
            SalesforceMalformedRequest(URL, 400, "q", body("CANNOT_UPDATE_CONVERTED_LEAD")),
            RecordRejectedError,
            "CANNOT_UPDATE_CONVERTED_LEAD",
        ),
        (SalesforceMalformedRequest(URL, 400, "q", body("MALFORMED_QUERY")), FatalError, "MALFORMED_QUERY"),
        (
            SalesforceResourceNotFound(URL, 404, "q", body("ENTITY_IS_DELETED")),
            RecordRejectedError,
            "ENTITY_IS_DELETED",
        ),
        (SalesforceMoreThanOneRecord(URL, 300, "q", ["/a", "/b"]), RecordRejectedError, "MULTIPLE_CHOICES"),
        (SalesforceGeneralError(URL, 503, "q", "Service Unavailable"), RetriableError, None),
        (
            SalesforceGeneralError(URL, 500, "q", body("UNKNOWN_EXCEPTION")),
            RetriableError,
            "UNKNOWN_EXCEPTION",
        ),
        (SalesforceGeneralError(URL, 429, "q", "slow down"), RetriableError, None),
        (requests.ConnectionError("reset"), RetriableError, "ConnectionError"),
        (requests.ReadTimeout("slow"), RetriableError, "ReadTimeout"),
        (requests.exceptions.ChunkedEncodingError("cut"), RetriableError, "ChunkedEncodingError"),
        (SalesforceAuthenticationFailed("INVALID_LOGIN", "bad"), FatalError, "INVALID_LOGIN"),
    ],
)
def test_classify(exc: BaseException, kind: type, code: str | None) -> None:
    result = classify(exc)
    assert type(result) is kind
    assert result.code == code


def test_save_errors() -> None:
    locked = classify_save_errors([{"statusCode": "UNABLE_TO_LOCK_ROW", "message": "locked", "fields": []}])
    assert isinstance(locked, RetriableError)
    picklist = classify_save_errors(
        [{"statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "message": "bad"}]
    )
    assert (
        isinstance(picklist, RecordRejectedError)
        and picklist.code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    )
    unknown = classify_save_errors([{"statusCode": "SOMETHING_NEW", "message": "?"}])
    assert isinstance(unknown, RecordRejectedError)
