# ruff: noqa: N818  (classes are named after the real error codes)
"""One class per real Salesforce error code, carrying its HTTP status and the real body shape.

REST error bodies are JSON arrays ``[{"message", "errorCode", "fields"?}]`` (developer.salesforce.com
api_rest errorcodes.htm "Status Codes and Error Responses"; restforce spec/fixtures). Inside sObject
Collections and SOAP results the same error is a SaveResult error ``{"statusCode", "message", "fields"}``
(api_rest resources_composite_sobjects_collections_update.htm example bodies, held in
tests/integration/salesforce/snapshots/).

Statuses marked UNVERIFIED in shared/reference/salesforce-api.md §3 are DML errors, which the REST
API reports as 400 like every other DML error.
"""

from __future__ import annotations

from typing import Any, ClassVar


class SalesforceApiError(Exception):
    """An error the org returns. ``fields`` is omitted from the body when ``None``."""

    status: ClassVar[int] = 400
    error_code: ClassVar[str] = "UNKNOWN_EXCEPTION"

    def __init__(self, message: str, fields: list[str] | None = None, extra: dict[str, Any] | None = None):
        self.message = message
        self.fields = fields
        self.extra = extra or {}
        super().__init__(f"{self.error_code}: {message}")

    def rest_item(self) -> dict[str, Any]:
        item: dict[str, Any] = dict(self.extra)
        item["message"] = self.message
        item["errorCode"] = self.error_code
        if self.fields is not None:
            item["fields"] = self.fields
        return item

    def rest_body(self) -> list[dict[str, Any]]:
        return [self.rest_item()]

    def save_error(self) -> dict[str, Any]:
        """The collections form: only statusCode/message/fields (the docs' DUPLICATES_DETECTED example
        in resources_composite_sobjects_collections_create.htm carries no duplicate result)."""
        return {"statusCode": self.error_code, "message": self.message, "fields": self.fields or []}


class InvalidSessionId(SalesforceApiError):
    """401; simple-salesforce re-logs in only when ``result.json()[0]['errorCode']`` is this code."""

    status = 401
    error_code = "INVALID_SESSION_ID"

    def __init__(self) -> None:
        super().__init__("Session expired or invalid")


class RequestLimitExceeded(SalesforceApiError):
    status = 403
    error_code = "REQUEST_LIMIT_EXCEEDED"

    def __init__(self, message: str = "TotalRequests Limit exceeded.") -> None:
        super().__init__(message)


class NotFound(SalesforceApiError):
    status = 404
    error_code = "NOT_FOUND"

    def __init__(self, message: str = "The requested resource does not exist") -> None:
        super().__init__(message)


class EntityIsDeleted(SalesforceApiError):
    status = 404
    error_code = "ENTITY_IS_DELETED"

    def __init__(self) -> None:
        super().__init__("entity is deleted", [])


class MalformedId(SalesforceApiError):
    """``<Object> ID: id value of incorrect type: <value>`` / ``malformed id <value>`` (collections docs)."""

    error_code = "MALFORMED_ID"


class MalformedQuery(SalesforceApiError):
    error_code = "MALFORMED_QUERY"


class InvalidField(SalesforceApiError):
    error_code = "INVALID_FIELD"


class InvalidType(SalesforceApiError):
    error_code = "INVALID_TYPE"


class InvalidQueryLocator(SalesforceApiError):
    error_code = "INVALID_QUERY_LOCATOR"

    def __init__(self) -> None:
        super().__init__("invalid query locator")


class InvalidFieldForInsertUpdate(SalesforceApiError):
    error_code = "INVALID_FIELD_FOR_INSERT_UPDATE"


class RequiredFieldMissing(SalesforceApiError):
    error_code = "REQUIRED_FIELD_MISSING"


class InvalidOrNullForRestrictedPicklist(SalesforceApiError):
    error_code = "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"


class FieldCustomValidationException(SalesforceApiError):
    error_code = "FIELD_CUSTOM_VALIDATION_EXCEPTION"


class CannotUpdateConvertedLead(SalesforceApiError):
    error_code = "CANNOT_UPDATE_CONVERTED_LEAD"

    def __init__(self) -> None:
        super().__init__("cannot reference converted lead", [])


class UnableToLockRow(SalesforceApiError):
    error_code = "UNABLE_TO_LOCK_ROW"

    def __init__(self, record_id: str = "") -> None:
        super().__init__(f"unable to obtain exclusive access to this record or 1 records: {record_id}", [])


class DuplicatesDetected(SalesforceApiError):
    """The duplicate-result key is spelled ``duplicateResut`` in captured bodies (reference §3)."""

    error_code = "DUPLICATES_DETECTED"


class DuplicateValue(SalesforceApiError):
    error_code = "DUPLICATE_VALUE"


class InvalidEmailAddress(SalesforceApiError):
    error_code = "INVALID_EMAIL_ADDRESS"


class StringTooLong(SalesforceApiError):
    error_code = "STRING_TOO_LONG"


class JsonParserError(SalesforceApiError):
    error_code = "JSON_PARSER_ERROR"


class InvalidCrossReferenceKey(SalesforceApiError):
    """A well-formed id that names no record: in a lookup field ("invalid cross reference id"), or as
    the record to update in a collection (UNVERIFIED there); "Owner ID: owner cannot be blank" for a
    null OwnerId (CumulusCI#3400)."""

    error_code = "INVALID_CROSS_REFERENCE_KEY"

    def __init__(self, message: str = "invalid cross reference id", fields: list[str] | None = None) -> None:
        super().__init__(message, fields if fields is not None else [])


class NumberOutsideValidRange(SalesforceApiError):
    """OFFSET over 2,000 (soql_sosl sforce_api_calls_soql_select_offset.htm: "Requesting an offset
    greater than 2,000 results in a NUMBER_OUTSIDE_VALID_RANGE error"); message as Apex reports it
    ("Maximum SOQL offset allowed is 2000", UNVERIFIED for REST)."""

    error_code = "NUMBER_OUTSIDE_VALID_RANGE"


class AllOrNoneRolledBack(SalesforceApiError):
    """Message text from the collections docs' example bodies."""

    error_code = "ALL_OR_NONE_OPERATION_ROLLED_BACK"

    def __init__(self) -> None:
        super().__init__(
            "Record rolled back because not all records were valid and the request was using "
            "AllOrNone header",
            [],
        )


class ExceededIdLimit(SalesforceApiError):
    error_code = "EXCEEDED_ID_LIMIT"


class InvalidReplicationDate(SalesforceApiError):
    error_code = "INVALID_REPLICATION_DATE"


class InvalidStatus(SalesforceApiError):
    error_code = "INVALID_STATUS"


class JobNotComplete(SalesforceApiError):
    """Bulk 2.0 results asked for before JobComplete (bulk_api_2_0 query_get_job_results.htm)."""

    status = 412
    error_code = "JOB_NOT_COMPLETE"


class ServerError(SalesforceApiError):
    status = 500
    error_code = "UNKNOWN_EXCEPTION"


class ServiceUnavailable(SalesforceApiError):
    status = 503
    error_code = "SERVER_UNAVAILABLE"


class MultipleChoices(SalesforceApiError):
    """300 from upsert when the external id matches more than one record: the body is a list of URLs."""

    status = 300
    error_code = "MULTIPLE_CHOICES"

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        super().__init__("more than one record found for external id")

    def rest_body(self) -> list[Any]:
        return list(self.urls)


class DuplicateExternalId(SalesforceApiError):
    """An upsert whose external id matches several records, or names the same value twice in one
    request (SOAP/REST UpsertResult ``DUPLICATE_EXTERNAL_ID``; message text UNVERIFIED)."""

    error_code = "DUPLICATE_EXTERNAL_ID"


class InvalidQueryFilterOperator(SalesforceApiError):
    """A malformed id compared with an Id field in a WHERE clause: 400 ``invalid ID field: X``
    (restforce/restforce#557, a captured production answer)."""

    error_code = "INVALID_QUERY_FILTER_OPERATOR"


class Gone(SalesforceApiError):
    """410 for a retired API version (api_rest_eol.htm: "REST API returns the 410:GONE error code");
    errorCode GONE from restforce/restforce#941; the message is UNVERIFIED."""

    status = 410
    error_code = "GONE"

    def __init__(self, version: str) -> None:
        super().__init__(f"API version {version} is retired and no longer available")


class UnsupportedApiVersion(SalesforceApiError):
    """SOAP fault for a retired or unknown version (api_eol_soap.htm: 500:UNSUPPORTED_API_VERSION)."""

    status = 500
    error_code = "UNSUPPORTED_API_VERSION"


class InvalidOperation(SalesforceApiError):
    """SOAP ``login()`` at API 65.0+ (forcedotcom/wsc#363)."""

    status = 500
    error_code = "INVALID_OPERATION"


class BadControlRequest(SalesforceApiError):
    """A ``/_sandbox`` control request that cannot be carried out (ours; not a Salesforce code)."""

    error_code = "BAD_CONTROL_REQUEST"


class QueryTooComplicated(SalesforceApiError):
    """``QUERY_TOO_COMPLICATED`` (salesforce_app_limits_platform_soslsoql.htm names it for statements
    too complex to expand); the threshold and message used here are UNVERIFIED."""

    error_code = "QUERY_TOO_COMPLICATED"


class CannotInsertUpdateActivateEntity(SalesforceApiError):
    """An Apex trigger threw while saving (see ``automation.py``)."""

    error_code = "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"

    def __init__(self, message: str) -> None:
        super().__init__(message, [])


class CannotExecuteFlowTrigger(SalesforceApiError):
    """A record-triggered flow or process faulted while saving (restforce#624)."""

    error_code = "CANNOT_EXECUTE_FLOW_TRIGGER"

    def __init__(self, message: str) -> None:
        super().__init__(message, [])


class InvalidTypeForOperation(SalesforceApiError):
    """A write to an object the API only reads (Organization, RecordType)."""

    error_code = "INVALID_TYPE_FOR_OPERATION"


class QueryTimeout(SalesforceApiError):
    """A query that ran too long: ``QUERY_TIMEOUT`` "Your query request was running for too long."
    (sfdecoded QUERY_TIMEOUT page; Bulk API docs: queries over the 2-minute limit fail with
    QUERY_TIMEOUT). Status 400 UNVERIFIED."""

    error_code = "QUERY_TIMEOUT"

    def __init__(self) -> None:
        super().__init__("Your query request was running for too long.")
