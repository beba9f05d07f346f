"""SOQL builders. Data values always go through ``format_soql`` (quoting and escaping, so an email such
as ``o'brien@example.com`` is safe); names are checked against the identifier grammar before use."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

from simple_salesforce.format import format_soql

from worker.errors import ConfigError

# "In each REST call, the maximum length for the combined URI and headers is 16,384 bytes … If the URI
# itself exceeds this limit, the request returns a 414 URI Too Long error" (help.salesforce.com article
# 000386264). Queries go as GET ``…/query/?q=``; 4 KB is left for the host, path and headers.
MAX_QUERY_PARAM_BYTES = 16_384 - 4_096
T = TypeVar("T")


def query_param_bytes(soql: str) -> int:
    """Bytes the ``q=`` parameter takes once URL-encoded (what counts against the URI limit)."""
    return len(urlencode({"q": soql}))


def fitting(values: Sequence[T], build: Callable[[list[T]], str], *, max_items: int = 200) -> Iterator[str]:
    """Queries ``build(chunk)`` over consecutive chunks of ``values``, each at most ``max_items`` long
    and short enough for a GET URL (``MAX_QUERY_PARAM_BYTES``) whatever the values' lengths, so data
    with long or escape-heavy values never makes a query Salesforce answers with 414. A single value
    too long on its own still yields its query (the adapter refuses it, naming the size)."""
    chunk: list[T] = []
    for value in values:
        if chunk and (
            len(chunk) >= max_items or query_param_bytes(build([*chunk, value])) > MAX_QUERY_PARAM_BYTES
        ):
            yield build(chunk)
            chunk = []
        chunk.append(value)
    if chunk:
        yield build(chunk)


_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*$")


def name(value: str) -> str:
    if not _NAME.match(value):
        raise ConfigError(f"not a Salesforce field or object name: {value!r}")
    return value


def field_list(fields: Sequence[str]) -> str:
    return ", ".join(name(f) for f in fields)


def select(
    fields: Sequence[str], object_type: str, where: str = "", args: Sequence[Any] = (), tail: str = ""
) -> str:
    """``SELECT fields FROM object [WHERE where] tail``; ``{}`` placeholders in ``where`` filled safely."""
    text = f"SELECT {select_items(fields)} FROM {name(object_type)}"
    if where:
        text += " WHERE " + where
    if tail:
        text += " " + tail
    return format_soql(text, *args) if args else text


LEAD_FACTS = (
    "Id",
    "IsConverted",
    "ConvertedDate",
    "ConvertedAccountId",
    "ConvertedContactId",
    "ConvertedOpportunityId",
    "ConvertedAccount.Type",
    "ConvertedOpportunity.StageName",
    "ConvertedOpportunity.IsClosed",
    "ConvertedOpportunity.IsWon",
)
CONTACT_FACTS = ("Id", "AccountId", "Account.Type")
CALL_FIELDS = "Id, Type, TaskSubtype, Status, ActivityDate, CompletedDateTime"


def calls_subquery(field: str = "TaskSubtype", values: Sequence[str] = ("Call",)) -> str:
    """Completed calls: "Log a Call" makes a Task with ``TaskSubtype = 'Call'`` and often no ``Type``
    (Task object reference, TaskSubtype), so calls are found by the subtype unless the settings name
    another field (``CALL_TASK_FIELD`` / ``CALL_TASK_VALUES``, e.g. an org that logs calls by ``Type``)."""
    built = format_soql(
        f"(SELECT {CALL_FIELDS} FROM Tasks WHERE {name(field)} IN {{}} AND Status = 'Completed')",
        list(values),
    )
    _SUBQUERIES.add(built)
    return built


_SUBQUERIES: set[str] = set()  # subqueries built here (names checked, values escaped)


CALLS_SUBQUERY = calls_subquery()
EVENTS_SUBQUERY = "(SELECT Id, Subject, StartDateTime, EndDateTime FROM Events)"
ROLES_SUBQUERY = (
    "(SELECT OpportunityId, IsPrimary, Opportunity.StageName, Opportunity.IsClosed, Opportunity.IsWon "
    "FROM OpportunityContactRoles)"
)


def facts_columns(object_type: str, calls: str = CALLS_SUBQUERY) -> list[str]:
    """Select-list items (fields, parent fields, child subqueries) carrying the related facts;
    ``calls`` is the completed-calls subquery (``calls_subquery``)."""
    if object_type == "Lead":
        return [*LEAD_FACTS, calls, EVENTS_SUBQUERY]
    if object_type == "Contact":
        return [*CONTACT_FACTS, ROLES_SUBQUERY, calls, EVENTS_SUBQUERY]
    raise ConfigError(f"related facts exist for Lead and Contact, not {object_type}")


def select_items(items: Sequence[str]) -> str:
    """Like ``field_list`` but lets through this module's own subqueries (built here, values escaped)."""
    known = {EVENTS_SUBQUERY, ROLES_SUBQUERY, *_SUBQUERIES}
    return ", ".join(i if i in known else name(i) for i in dict.fromkeys(items))


def facts_query(object_type: str, ids: Sequence[str], calls: str = CALLS_SUBQUERY) -> str:
    """One query per chunk of people: conversion, customer account, opportunities, calls, meetings."""
    head = select_items(facts_columns(object_type, calls))
    return format_soql(f"SELECT {head} FROM {name(object_type)} WHERE Id IN {{}}", list(ids))
