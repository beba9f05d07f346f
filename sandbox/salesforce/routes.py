"""Routes as data: method, path pattern, handler, and whether the route is an authenticated REST call.

``{v}`` is the API version (``59.0``), ``{obj}`` an sObject name, ``{id}`` a 15/18-character id.
Order matters: fixed segments (``describe``, ``updated``, ``deleted``) come before ``{id}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sandbox.salesforce import responses as resp

Handler = Callable[[resp.Ctx], resp.Reply]

_PARAMS = {
    "v": r"(?P<v>\d{2}\.\d)",
    "obj": r"(?P<obj>[A-Za-z][A-Za-z0-9_]*)",
    "id": r"(?P<id>[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?)",
    "field": r"(?P<field>[A-Za-z][A-Za-z0-9_]*)",
    "value": r"(?P<value>[^/]+)",
    "locator": r"(?P<locator>01g[A-Za-z0-9]{12,15})",
    "pos": r"(?P<pos>\d+)",
}


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    handler: Handler
    rest: bool = True  # authenticated REST call: counted against the API allocation, gets Sforce-Limit-Info

    def compile(self) -> re.Pattern[str]:
        regex = re.sub(r"\{(\w+)\}", lambda m: _PARAMS[m.group(1)], self.pattern)
        return re.compile("^" + regex + "/?$")


D = "/services/data/v{v}"
ROUTES: list[Route] = [
    Route("GET", "/services/data", resp.versions, rest=False),
    Route("GET", D, resp.resources),
    Route("GET", D + "/limits", resp.limits),
    Route("GET", D + "/sobjects", resp.describe_global),
    Route("GET", D + "/sobjects/{obj}", resp.sobject_info),
    Route("POST", D + "/sobjects/{obj}", resp.create_record),
    Route("GET", D + "/sobjects/{obj}/describe", resp.describe),
    Route("GET", D + "/sobjects/{obj}/updated", resp.updated),
    Route("GET", D + "/sobjects/{obj}/deleted", resp.deleted),
    Route("GET", D + "/sobjects/{obj}/{id}", resp.get_record),
    Route("PATCH", D + "/sobjects/{obj}/{id}", resp.update_record),
    Route("DELETE", D + "/sobjects/{obj}/{id}", resp.delete_record),
    Route("GET", D + "/sobjects/{obj}/{field}/{value}", resp.get_by_external_id),
    Route("PATCH", D + "/sobjects/{obj}/{field}/{value}", resp.upsert_record),
    Route("GET", D + "/query/{locator}-{pos}", resp.query_more),
    Route("GET", D + "/queryAll/{locator}-{pos}", resp.query_more),
    Route("GET", D + "/query", resp.query),
    Route("GET", D + "/queryAll", resp.query_all),
    Route("POST", D + "/composite/sobjects", resp.collection_create),
    Route("PATCH", D + "/composite/sobjects", resp.collection_update),
    Route("DELETE", D + "/composite/sobjects", resp.collection_delete),
    Route("GET", D + "/composite/sobjects/{obj}", resp.collection_retrieve),
    Route("PATCH", D + "/composite/sobjects/{obj}/{field}", resp.collection_upsert),
    Route("GET", D + "/ui-api/object-info/{obj}/picklist-values/{id}", resp.picklist_values_collection),
    Route("GET", D + "/ui-api/object-info/{obj}/picklist-values/{id}/{field}", resp.picklist_values),
    Route("POST", D + "/jobs/ingest", resp.ingest_create),
    Route("PUT", D + "/jobs/ingest/{id}/batches", resp.ingest_upload),
    Route("PATCH", D + "/jobs/ingest/{id}", resp.ingest_state),
    Route("GET", D + "/jobs/ingest/{id}", resp.ingest_get),
    Route("DELETE", D + "/jobs/ingest/{id}", resp.bulk_delete),
    Route("GET", D + "/jobs/ingest/{id}/successfulResults", resp.ingest_results),
    Route("GET", D + "/jobs/ingest/{id}/failedResults", resp.ingest_results),
    Route("GET", D + "/jobs/ingest/{id}/unprocessedrecords", resp.ingest_results),
    # simple-salesforce asks for unprocessedRecords; the docs spell it lower case (both answered)
    Route("GET", D + "/jobs/ingest/{id}/unprocessedRecords", resp.ingest_results),
    Route("POST", D + "/jobs/query", resp.bulk_create),
    Route("GET", D + "/jobs/query/{id}", resp.bulk_get),
    Route("PATCH", D + "/jobs/query/{id}", resp.bulk_abort),
    Route("DELETE", D + "/jobs/query/{id}", resp.bulk_delete),
    Route("GET", D + "/jobs/query/{id}/results", resp.bulk_results),
    Route("POST", "/services/Soap/u/{v}", resp.soap, rest=False),
    Route("POST", "/services/Soap/u/{v}/{value}", resp.soap, rest=False),
    Route("POST", "/services/oauth2/token", resp.oauth_token, rest=False),
    # Control surface: never touched by real clients.
    Route("POST", "/_sandbox/reset", resp.control_reset, rest=False),
    Route("POST", "/_sandbox/seed", resp.control_seed, rest=False),
    Route("GET", "/_sandbox/faults", resp.control_faults, rest=False),
    Route("POST", "/_sandbox/faults", resp.control_faults, rest=False),
    Route("DELETE", "/_sandbox/faults", resp.control_faults, rest=False),
    Route("GET", "/_sandbox/requests", resp.control_requests, rest=False),
    Route("DELETE", "/_sandbox/requests", resp.control_requests, rest=False),
    Route("GET", "/_sandbox/settings", resp.control_settings, rest=False),
    Route("POST", "/_sandbox/settings", resp.control_settings, rest=False),
    Route("GET", "/_sandbox/automations", resp.control_automations, rest=False),
    Route("POST", "/_sandbox/automations", resp.control_automations, rest=False),
    Route("DELETE", "/_sandbox/automations", resp.control_automations, rest=False),
    Route("GET", "/_sandbox/record_types", resp.control_record_types, rest=False),
    Route("POST", "/_sandbox/record_types", resp.control_record_types, rest=False),
    Route("GET", "/_sandbox/field_security", resp.control_field_security, rest=False),
    Route("POST", "/_sandbox/field_security", resp.control_field_security, rest=False),
    Route("POST", "/_sandbox/sessions/expire", resp.control_expire_sessions, rest=False),
    Route("POST", "/_sandbox/late_commit", resp.control_late_commit, rest=False),
    Route("POST", "/_sandbox/merge", resp.control_merge, rest=False),
]

COMPILED: list[tuple[Route, re.Pattern[str]]] = [(r, r.compile()) for r in ROUTES]


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route for ``method path``, or ``None``."""
    for route, regex in COMPILED:
        if route.method == method:
            m = regex.match(path)
            if m is not None:
                return route, m.groupdict()
    return None


def allowed_methods(path: str) -> list[str]:
    """Methods some route accepts for ``path`` (for a 405 answer)."""
    return sorted({route.method for route, regex in COMPILED if regex.match(path)})


def coverage_table() -> str:
    """Markdown table of the routes and the first line of each handler's docstring (for the docs)."""
    lines = ["| method | path | handler | notes |", "|---|---|---|---|"]
    for route in ROUTES:
        doc = (route.handler.__doc__ or "").strip().splitlines()
        first = doc[0].replace("|", "\\|") if doc else ""
        lines.append(f"| {route.method} | `{route.pattern}` | `{route.handler.__name__}` | {first} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(coverage_table(), end="")
