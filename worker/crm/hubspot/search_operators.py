"""The filter operators HubSpot's CRM search accepts (``filterGroups[].filters[].operator``).

Source: HubSpot, "Search the CRM" (https://developers.hubspot.com/docs/api-reference/2026-03/crm/search-the-crm)
and the ``Filter.operator`` enum of its OpenAPI spec, which hubspot-api-client's ``Filter`` model carries.
The one list both the backfill's scope check (``worker.ops.backfill``) and the HubSpot sandbox's search
engine (``sandbox.hubspot.search``) use, so the worker never accepts an operator the emulator refuses.
"""

from __future__ import annotations

FILTER_OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)
