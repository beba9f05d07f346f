"""HubSpot adapter over hubspot-api-client: change reading, batch writes, failure classification."""

from __future__ import annotations

from worker.crm.hubspot.adapter import ChangePage, HubSpotAdapter, SearchPager, WriteResult
from worker.crm.hubspot.classify import classify
from worker.crm.hubspot.cursor import Cursor, WindowPolicy
from worker.crm.hubspot.settings import HubSpotSettings

__all__ = [
    "ChangePage",
    "Cursor",
    "HubSpotAdapter",
    "HubSpotSettings",
    "SearchPager",
    "WindowPolicy",
    "WriteResult",
    "classify",
]
