"""HubSpot's error answers, one class per real error code, each carrying its status and real body.

Body shapes follow shared/reference/hubspot-api.md §7.4 (SPEC ``Error`` schema plus captured
bodies). ``correlationId`` is a fresh UUID per answer as on the real API.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

KNOWLEDGE_BASE = {"knowledge-base": "https://www.hubspot.com/products/service/knowledge-base"}


def correlation_id() -> str:
    return str(uuid.uuid4())


class HubSpotError(Exception):
    """An error answer. ``body()`` is the JSON document HubSpot sends; ``headers`` extra headers."""

    status: int = 400
    category: str = "VALIDATION_ERROR"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra
        self.headers: dict[str, str] = {}

    def body(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "status": "error",
            "message": self.message,
            "correlationId": correlation_id(),
            "category": self.category,
        }
        doc.update(self.extra)
        return doc

    def item_error(self) -> dict[str, Any]:
        """The ``StandardError`` form used inside a 207 ``errors[]`` list (SPEC ``StandardError``)."""
        context = self.extra.get("context", {})
        return {
            "status": "error",
            "category": self.category,
            "message": self.message,
            "context": context,
            "errors": self.extra.get("errors", []),
            "links": {},
        }


class InvalidAuthenticationError(HubSpotError):
    """401 for a missing/unknown token. [B] jeremylongshore hubspot-common-errors; hubspot-api-php #363."""

    status = 401
    category = "INVALID_AUTHENTICATION"

    def __init__(self) -> None:
        super().__init__(
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can "
            "find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
        )


class ExpiredAuthenticationError(HubSpotError):
    """401 for an expired OAuth access token. [B] airbytehq/airbyte #74726; ToolJet #17192."""

    status = 401
    category = "EXPIRED_AUTHENTICATION"

    def __init__(self, seconds_ago: int, expired_at_iso: str) -> None:
        super().__init__(
            f"The OAuth token used to make this call expired {seconds_ago} second(s) ago.",
            context={"expire time": [expired_at_iso]},
        )


class ObjectNotFoundError(HubSpotError):
    """404 for GET by unknown id. Body text [C] (segment-docs PR #6244 "resource not found")."""

    status = 404
    category = "OBJECT_NOT_FOUND"

    def __init__(self, message: str = "resource not found", **extra: Any) -> None:
        super().__init__(message, **extra)


class ConflictError(HubSpotError):
    """409 on duplicate email. [B] hubspot-api-nodejs #545, hubspot-api-python #51."""

    status = 409
    category = "CONFLICT"

    def __init__(self, existing_id: int) -> None:
        super().__init__(f"Contact already exists. Existing ID: {existing_id}")
        self.existing_id = existing_id


class ValidationError(HubSpotError):
    """400 VALIDATION_ERROR with free text (limits, malformed input). Exact texts are [C] unless noted."""

    status = 400
    category = "VALIDATION_ERROR"


class DuplicateIdsError(ValidationError):
    """400 for a batch naming one id twice; the whole batch is refused.

    Body [B], recorded from the real API in rudderlabs/rudder-transformer
    test/integrations/destinations/hs/dataDelivery/other.ts: ``{"status":"error","message":"Duplicate IDs
    found in batch input: [12877907025]. IDs must be unique","correlationId":…,"context":{"ids":
    ["12877907025"]},"category":"VALIDATION_ERROR"}``. Also quoted by amp-labs/connectors (batch update).
    """

    def __init__(self, ids: list[str]) -> None:
        super().__init__(
            f"Duplicate IDs found in batch input: [{', '.join(ids)}]. IDs must be unique",
            context={"ids": ids},
        )


class PropertyValuesInvalidError(ValidationError):
    """400 "Property values were not valid: [...]" for INVALID_OPTION, PROPERTY_DOESNT_EXIST, READ_ONLY_VALUE,
    INVALID_EMAIL, INVALID_INTEGER/INVALID_DOUBLE.

    The problems sit only inside ``message``, as a JSON list in the string; there is no ``errors[]`` with
    codes and no ``context.propertyName`` [B, captured bodies: gregorspan/csc-frodx #21 (v3),
    Atlas-Authority/marketing-automation #174 (batch upsert, whole batch refused), a TalentLMS
    integration's logged INVALID_EMAIL 400; A, HubSpot's error-handling guide: "Most endpoints do not
    return error codes"].
    """

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        self.problems = problems
        super().__init__("Property values were not valid: " + json.dumps(problems, separators=(",", ":")))


class NoPropertiesError(ValidationError):
    """400 for an update whose ``properties`` is empty. Text and ``context`` [B, hubspot-api-ruby #121:
    ``{"status":"error","message":"No properties found to update, please provide at least one.",
    "context":{"properties":["{}"]},"category":"VALIDATION_ERROR"}``; hubspot-api-php #242]. Used for
    creates too (same rule assumed, text unverified)."""

    def __init__(self) -> None:
        super().__init__(
            "No properties found to update, please provide at least one.", context={"properties": ["{}"]}
        )


class BadRequestError(HubSpotError):
    """The generic 400 many search failures get: "There was a problem with the request." and no
    ``category`` [B, openillumi.com write-up of a search on an unknown property name; A, error-handling
    guide: error bodies are ``status``/``message``/``correlationId`` and most carry no code]. Which search
    problems answer this way (beyond an unknown property) is unverified; the sandbox also uses it for
    paging past the 10,000-result ceiling."""

    status = 400

    def __init__(self) -> None:
        super().__init__("There was a problem with the request.")

    def body(self) -> dict[str, Any]:
        return {"status": "error", "message": self.message, "correlationId": correlation_id()}


class NoAssociationsFoundError(HubSpotError):
    """A v4 association batch-read ``errors[]`` entry for an id with no associations of that type: the id
    is left out of ``results`` and the answer is 207 [B, a captured real answer quoted in a public
    repository's notes: ``{"status":"error","category":"OBJECT_NOT_FOUND","subCategory":
    "crm.associations.NO_ASSOCIATIONS_FOUND","message":"No company is associated with deal 515690208449.",
    "context":{"fromObjectId":["515690208449"],"fromObjectType":["deal"],"toObjectType":["company"]}}``]."""

    status = 404
    category = "OBJECT_NOT_FOUND"

    def __init__(self, from_singular: str, from_id: str, to_singular: str) -> None:
        super().__init__(
            f"No {to_singular} is associated with {from_singular} {from_id}.",
            context={
                "fromObjectId": [from_id],
                "fromObjectType": [from_singular],
                "toObjectType": [to_singular],
            },
        )

    def item_error(self) -> dict[str, Any]:
        return {
            "status": "error",
            "category": self.category,
            "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
            "message": self.message,
            "context": self.extra["context"],
        }


class RateLimitedError(HubSpotError):
    """429 with ``errorType: RATE_LIMIT`` and ``policyName`` and no ``category``. [A] DOCS-USAGE."""

    status = 429

    def __init__(self, policy: str, retry_after_s: int) -> None:
        message = {
            "DAILY": "You have reached your daily limit.",
            "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
            "SECONDLY": "You have reached your secondly limit.",
        }[policy]
        super().__init__(message)
        self.policy = policy
        self.headers["Retry-After"] = str(retry_after_s)

    def body(self) -> dict[str, Any]:
        return {
            "status": "error",
            "message": self.message,
            "errorType": "RATE_LIMIT",
            "correlationId": correlation_id(),
            "policyName": self.policy,
            "requestId": str(uuid.uuid4()),
        }


class BadRefreshTokenError(HubSpotError):
    """400 from ``/oauth/v1/token`` for an unknown refresh token. Shape [C] (reference §7.4)."""

    status = 400

    def __init__(self) -> None:
        super().__init__("missing or unknown refresh token")

    def body(self) -> dict[str, Any]:
        return {"status": "BAD_REFRESH_TOKEN", "message": self.message, "correlationId": correlation_id()}


class BadClientIdError(HubSpotError):
    """400 from ``/oauth/v1/token`` when client id/secret do not match. Shape [C]."""

    status = 400

    def __init__(self) -> None:
        super().__init__("missing or invalid client_id/client_secret")

    def body(self) -> dict[str, Any]:
        return {"status": "BAD_CLIENT_ID", "message": self.message, "correlationId": correlation_id()}


class InternalError(HubSpotError):
    """5xx injected by the faults control surface. Body shape [C]."""

    category = "INTERNAL_ERROR"

    def __init__(self, status: int) -> None:
        super().__init__("internal error")
        self.status = status


class PropertyExistsError(HubSpotError):
    """409 when creating a property whose name is taken. Text [C]."""

    status = 409
    category = "OBJECT_ALREADY_EXISTS"

    def __init__(self, name: str) -> None:
        super().__init__(f"A property named '{name}' already exists.")
