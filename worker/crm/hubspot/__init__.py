"""HubSpot adapter over hubspot-api-client: change reading, batch writes, failure classification."""

from __future__ import annotations

from worker.crm.hubspot.adapter import ChangePage, HubSpotAdapter, SearchPager
from worker.crm.hubspot.classify import classify
from worker.crm.hubspot.cursor import Cursor, WindowPolicy
from worker.crm.hubspot.settings import HubSpotSettings
from worker.crm.port import WriteReport, WriteResult

__all__ = [
    "ChangePage",
    "Cursor",
    "HubSpotAdapter",
    "HubSpotSettings",
    "SearchPager",
    "WindowPolicy",
    "WriteReport",
    "WriteResult",
    "classify",
]
