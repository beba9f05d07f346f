"""The Salesforce half of the worker's start-up check: refuse to run rather than fail every poll.

A worker started against an org that does not serve its API version, or whose integration user cannot
read a field the map syncs (field-level security hides it: every query naming it fails with
INVALID_FIELD) or cannot update a field the worker writes (every write fails with
INVALID_FIELD_FOR_INSERT_UPDATE), would fail the same way on every poll. ``check_salesforce`` finds
all of that with two describes and one unauthenticated call, and raises one ``ConfigError`` naming
every field and the permission to grant. Picklist values the org lacks only fail the writes that use
them; they are returned as warnings (``mappings verify`` reports them too).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from worker.crm.salesforce.adapter import SalesforceAdapter
from worker.errors import ConfigError
from worker.mapping.compiled import CompiledMap
from worker.mapping.verify import Writable, salesforce_field_problems, verify_against_crms

log = logging.getLogger(__name__)
OBJECTS = ("Lead", "Contact")


@dataclass(frozen=True)
class SalesforceSchema:
    """What describe told about the objects the map uses, as the connected user sees them."""

    values: dict[str, dict[str, frozenset[str] | None]]
    writable: dict[str, Writable]
    record_types: dict[str, dict[str, dict[str, frozenset[str]]]]

    def verify_arguments(self) -> dict[str, Any]:
        """Keyword arguments of ``verify_against_crms`` for the Salesforce side."""
        return {
            "salesforce": self.values,
            "salesforce_writable": self.writable,
            "salesforce_record_types": self.record_types,
        }


def read_schema(adapter: SalesforceAdapter) -> SalesforceSchema:
    values: dict[str, dict[str, frozenset[str] | None]] = {}
    writable: dict[str, Writable] = {}
    record_types: dict[str, dict[str, dict[str, frozenset[str]]]] = {}
    for sobject in OBJECTS:
        values[sobject], writable[sobject] = adapter.describe_schema(sobject)
        record_types[sobject] = adapter.record_type_picklists(sobject)
    return SalesforceSchema(values, writable, record_types)


def check_salesforce(adapter: SalesforceAdapter, cmap: CompiledMap) -> list[str]:
    """Raise ``ConfigError`` when the worker cannot work with this org and map; return the warnings.

    Called by the runtime before the first poll. Logs which org it is (``organization``). Checks: the
    API version is served (``check_api_version``), every field the map syncs is visible to the
    connected user, every field the worker writes is updateable (and createable on Leads when the map
    creates them)."""
    adapter.check_api_version()
    org = adapter.organization()
    log.info(
        "Salesforce org %s (%s, %s, instance %s)",
        org.id,
        org.name,
        "sandbox" if org.sandbox else "production",
        org.instance,
    )
    schema = read_schema(adapter)
    fatal = salesforce_field_problems(cmap, schema.values, schema.writable)
    if fatal:
        raise ConfigError(
            f"Salesforce: the connected user cannot work with map {cmap.name!r}:\n  " + "\n  ".join(fatal)
        )
    warnings = verify_against_crms(cmap, **schema.verify_arguments())
    for warning in warnings:
        log.warning("Salesforce map check: %s", warning)
    return warnings
