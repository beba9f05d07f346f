"""crm-sync: keeps Salesforce and HubSpot in agreement about lead stage and lead status."""

from __future__ import annotations

__version__ = "0.1.0"
