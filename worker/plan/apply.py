"""Apply a plan to the records it was made from, in memory: what the CRMs will hold afterwards.

Used by the idempotence properties (plan → apply → plan again must write nothing), by ``crmsync
explain --apply`` and by the demo. It follows the CRMs' rules that matter to the plan: writes to one
record run in step order, an empty string clears a HubSpot property, and a converted lead's writes land
on its Contact.
"""

from __future__ import annotations

from dataclasses import replace

from worker.plan.model import Plan
from worker.records import HubSpotRecord, SalesforceRecord, Value


def apply_plan(
    plan: Plan,
    salesforce: SalesforceRecord | None,
    hubspot: HubSpotRecord | None,
    *,
    new_salesforce_id: str = "00Q000000000000AAA",
    new_hubspot_id: str = "1",
) -> tuple[SalesforceRecord | None, HubSpotRecord | None]:
    sf = salesforce
    hs = hubspot
    for write in sorted(plan.salesforce, key=lambda w: w.step):
        values: dict[str, Value] = dict(write.values())
        if write.op == "create":
            sf = SalesforceRecord(
                object_type=write.object_type,
                id=new_salesforce_id,
                values={"Id": new_salesforce_id, **values},
            )
            if write.link_back and hs is not None:  # the executor's follow-up write
                hs = replace(hs, properties={**hs.properties, write.link_back: new_salesforce_id})
        elif sf is not None and write.object_type == "Contact" and sf.object_type == "Lead":
            sf = SalesforceRecord(  # the converted lead's Contact now carries the person
                object_type="Contact",
                id=write.record_id or "",
                values={**sf.values, "Id": write.record_id, **values},
                modified_ms=sf.modified_ms,
            )
        elif sf is not None:
            sf = replace(sf, values={**sf.values, **values})
    for write in sorted(plan.hubspot, key=lambda w: w.step):
        values = dict(write.values())
        if write.op == "create":
            hs = HubSpotRecord(id=new_hubspot_id, properties=values)
            if write.link_back and sf is not None:
                sf = replace(sf, values={**sf.values, write.link_back: new_hubspot_id})
        elif hs is not None:
            hs = replace(hs, properties={**hs.properties, **values})
    return sf, hs
