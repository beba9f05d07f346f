"""The worker's Salesforce adapter, on simple-salesforce.

Returns Salesforce's raw JSON records (dicts as the REST API returns them, ``attributes`` included);
normalisation into the core's record model is not done here.
"""

from __future__ import annotations

from worker.crm.port import WriteReport, WriteResult
from worker.crm.salesforce.adapter import ChangePage, DeletedRecords, SalesforceAdapter
from worker.crm.salesforce.classify import classify
from worker.crm.salesforce.cursor import Watermark
from worker.crm.salesforce.settings import AuthMode, SalesforceSettings
from worker.crm.salesforce.soap import ConversionResult, LeadConversion

__all__ = [
    "AuthMode",
    "ChangePage",
    "ConversionResult",
    "DeletedRecords",
    "LeadConversion",
    "SalesforceAdapter",
    "SalesforceSettings",
    "Watermark",
    "WriteReport",
    "WriteResult",
    "classify",
]
