"""The worker's start-up guard: the active map must fit the connected CRMs before anything syncs.

A map naming a picklist value, option or field the org or portal lacks (a renamed value is a schema
change) would fail at the first write or silently corrupt reports, so the worker refuses to start and
says what is missing, exactly as ``crmsync mappings verify`` does.
"""

from __future__ import annotations

import logging
from typing import Any

from worker.errors import ConfigError, CrmError, MappingError
from worker.settings import Settings

log = logging.getLogger("crmsync.startup")


class MapDoesNotFitError(ConfigError):
    """The map names something a connected CRM lacks (``problems`` lists each)."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {path}: {p}" for p in problems)
        super().__init__(
            f"refusing to sync: the definition map {path} does not fit the connected CRMs:\n{lines}\n"
            "Fix the map (or add the values to the CRM), check with `crmsync mappings verify`, then restart."
        )


def verify_map(settings: Settings) -> None:
    """Check the active map against every enabled CRM.

    Raises ``MapDoesNotFitError`` when something is missing, ``MappingError`` for an invalid map and
    ``ConfigError`` when a CRM cannot be reached or configured.
    """
    from worker.mapping import load_map
    from worker.mapping.verify import verify_against_crms

    path = str(settings.map_path)
    cmap = load_map(settings.map_path)
    described_sf: dict[str, Any] | None = None
    described_hs: dict[str, Any] | None = None
    try:
        if settings.salesforce_enabled:
            from worker.crm.salesforce.adapter import SalesforceAdapter
            from worker.crm.salesforce.startup import check_salesforce

            sf = SalesforceAdapter(settings.salesforce_settings)
            # API version served, fields visible to and writable by the integration user (ConfigError)
            for warning in check_salesforce(sf, cmap):
                log.warning("salesforce: %s", warning)
            described_sf = {obj: sf.describe_fields(obj) for obj in ("Lead", "Contact")}
        if settings.hubspot_enabled:
            from worker.crm.hubspot.adapter import HubSpotAdapter

            described_hs = HubSpotAdapter(settings.hubspot_settings).describe_properties()
    except CrmError as exc:
        raise ConfigError(f"refusing to sync: cannot read the CRMs' schema to check the map: {exc}") from None
    problems = verify_against_crms(cmap, salesforce=described_sf, hubspot=described_hs)
    if problems:
        raise MapDoesNotFitError(path, problems)


__all__ = ["MapDoesNotFitError", "MappingError", "verify_map"]
