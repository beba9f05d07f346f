"""SOQL builders. Data values always go through ``format_soql`` (quoting and escaping, so an email such
as ``o'brien@example.com`` is safe); names are checked against the identifier grammar before use."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from simple_salesforce.format import format_soql

from worker.errors import ConfigError

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
    text = f"SELECT {field_list(fields)} FROM {name(object_type)}"
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
CALLS_SUBQUERY = (
    "(SELECT Id, Type, Status, ActivityDate, CompletedDateTime FROM Tasks "
    "WHERE Type = 'Call' AND Status = 'Completed')"
)
EVENTS_SUBQUERY = "(SELECT Id, Subject, StartDateTime, EndDateTime FROM Events)"
ROLES_SUBQUERY = (
    "(SELECT OpportunityId, IsPrimary, Opportunity.StageName, Opportunity.IsClosed, Opportunity.IsWon "
    "FROM OpportunityContactRoles)"
)


def facts_query(object_type: str, ids: Sequence[str]) -> str:
    """One query per chunk of people: conversion, customer account, opportunities, calls, meetings."""
    if object_type == "Lead":
        parts = [*LEAD_FACTS, CALLS_SUBQUERY, EVENTS_SUBQUERY]
    elif object_type == "Contact":
        parts = [*CONTACT_FACTS, ROLES_SUBQUERY, CALLS_SUBQUERY, EVENTS_SUBQUERY]
    else:
        raise ConfigError(f"related facts exist for Lead and Contact, not {object_type}")
    head = ", ".join(p if p.startswith("(") else name(p) for p in parts)
    return format_soql(f"SELECT {head} FROM {object_type} WHERE Id IN {{}}", list(ids))
