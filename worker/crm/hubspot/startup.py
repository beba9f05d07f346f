"""The HubSpot half of the worker's start-up check (``worker.crm.salesforce.startup`` is the other):
refuse to run rather than fail every create.

Every HubSpot create is a batch upsert on the create key property (``CRMSYNC_HUBSPOT_CREATE_KEY_PROPERTY``,
``crmsync_key``), which HubSpot accepts only for a property requiring unique values, and every link-back
writes ``salesforce_lead_id`` / ``salesforce_contact_id``. A portal lacking them would fail each such
write, so ``check_hubspot`` raises one ``ConfigError`` naming each and what to create. Options the map
names and the portal lacks only fail the writes that use them: returned as warnings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from worker.crm.hubspot.adapter import HubSpotAdapter
from worker.errors import ConfigError
from worker.mapping.compiled import CompiledMap
from worker.mapping.verify import hubspot_key_problems, verify_against_crms

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HubSpotSchema:
    """The portal's contact properties as the worker needs them (one properties call)."""

    options: dict[str, frozenset[str] | None]
    unique: frozenset[str]
    create_key: str

    def verify_arguments(self) -> dict[str, Any]:
        """Keyword arguments of ``verify_against_crms`` for the HubSpot side."""
        return {"hubspot": self.options, "hubspot_unique": self.unique, "hubspot_create_key": self.create_key}


def read_schema(adapter: HubSpotAdapter) -> HubSpotSchema:
    options, unique = adapter.property_schema("contacts")
    return HubSpotSchema(options, unique, adapter.settings.create_key_property)


def check_hubspot(adapter: HubSpotAdapter, cmap: CompiledMap) -> list[str]:
    """Raise ``ConfigError`` when the worker cannot create or link in this portal; return the map's
    warnings (options the portal lacks). Called by the runtime before the first poll."""
    schema = read_schema(adapter)
    fatal = hubspot_key_problems(cmap, set(schema.options), schema.unique, schema.create_key)
    if fatal:
        raise ConfigError(f"HubSpot: the portal lacks what map {cmap.name!r} needs:\n  " + "\n  ".join(fatal))
    warnings = verify_against_crms(cmap, **schema.verify_arguments())
    for warning in warnings:
        log.warning("HubSpot map check: %s", warning)
    return warnings
