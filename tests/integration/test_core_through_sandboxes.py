"""The pure core wired to both adapters and both sandboxes: the contract between them, end to end.

Records come from the sandboxes through the real client libraries, are normalised by
``worker.records``, planned against the shipped map, and the plan's writes go back through the
adapters. Afterwards both CRMs must agree, and planning again from what the CRMs now hold must write
nothing (no echo). The loop here is the least a sync needs; the daemon issue builds the real one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.conftest import MAPPINGS
from worker.crm.hubspot import HubSpotAdapter, HubSpotSettings
from worker.crm.salesforce import SalesforceAdapter, SalesforceSettings
from worker.mapping import CompiledMap, load_map
from worker.plan import Plan, plan
from worker.records import Base, HubSpotRecord, SalesforceRecord, hubspot_record, salesforce_record

pytestmark = pytest.mark.integration
EMAIL = "ada.obrien@example.com"


class Crms:
    def __init__(self, sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, cmap: CompiledMap) -> None:
        self.sf_box, self.cmap = sf_box, cmap
        self.sf = SalesforceAdapter(
            SalesforceSettings(
                auth_mode="soap",
                username="admin@crm-sync.sandbox",
                password=SecretStr("password"),
                security_token=SecretStr("TOKEN"),
                login_url=sf_box.instance_url,
                ca_bundle=sf_box.ca_path,
            )
        )
        self.hs = HubSpotAdapter(
            HubSpotSettings(
                base_url=hs_box.base_url,
                access_token=SecretStr(hs_box.token),
                index_lag_margin_s=0.0,
                lookback_s=0.0,
            )
        )
        self.sf_fields = sorted(
            {f.salesforce for f in cmap.synced_fields if f.salesforce and "Lead" in f.salesforce_objects}
            | {cmap.link_sf_hubspot_id, "IsConverted", "ConvertedContactId", "SystemModstamp"}
        )
        self.hs_props = sorted(
            {f.hubspot for f in cmap.synced_fields if f.hubspot}
            | {cmap.link_hs_lead_id, cmap.link_hs_contact_id, "lastmodifieddate"}
        )

    def load(self, lead_id: str, contact_id: str) -> tuple[SalesforceRecord, HubSpotRecord]:
        [raw_lead] = self.sf.read_by_ids("Lead", [lead_id], self.sf_fields)
        raw_contact = self.hs.read([contact_id], properties=self.hs_props)[contact_id]
        return salesforce_record(raw_lead), hubspot_record(raw_contact)

    def execute(self, result: Plan) -> None:
        """Run the plan's writes in step order; a HubSpot clear-then-set goes through the adapter's
        guarded backward move, which does both requests and reads the stage back."""
        for write in result.salesforce:
            assert write.op == "update" and write.record_id is not None
            [outcome] = self.sf.update(write.object_type, [(write.record_id, write.values())]).results
            assert outcome.ok, outcome.error
        steps = sorted(result.hubspot, key=lambda w: w.step)
        if len(steps) == 2 and steps[0].values() == {"lifecyclestage": ""}:
            rest = dict(steps[1].values())
            stage = rest.pop("lifecyclestage")
            assert steps[1].record_id is not None
            moved = self.hs.move_lifecycle_backward({steps[1].record_id: str(stage)})[steps[1].record_id]
            assert moved.ok, moved.error
            steps = [
                steps[1]._replace(changes=tuple(c for c in steps[1].changes if c.field != "lifecyclestage"))
            ]
        for write in steps:
            if write.changes:
                assert write.record_id is not None
                values = {k: "" if v is None else v for k, v in write.values().items()}
                outcome = self.hs.update({write.record_id: values})[write.record_id]
                assert outcome.ok, outcome.error


@pytest.fixture(scope="module")
def boxes() -> Iterator[tuple[SalesforceSandbox, HubSpotSandbox]]:
    with SalesforceSandbox() as sf_box, HubSpotSandbox() as hs_box:
        yield sf_box, hs_box


def _person(crms: Crms, hs_box: HubSpotSandbox, **lead: Any) -> tuple[str, str]:
    crms.sf_box.reset()
    hs_box.reset()
    contact = crms.hs.upsert_by_email(
        {
            EMAIL: {
                "firstname": "Ada",
                "lastname": "O'Brien",
                "lifecyclestage": "marketingqualifiedlead",
                "hs_lead_status": "IN_PROGRESS",
                "company": "Engines",
            }
        }
    )[EMAIL]
    assert contact.ok and contact.id is not None
    values = {"FirstName": "Ada", "LastName": "O'Brien", "Email": EMAIL, "Company": "Engines", **lead}
    lead_id = crms.sf_box.org.create("Lead", values, crms.sf_box.org.admin_id)
    return lead_id, contact.id


def _base(cmap: CompiledMap, lead_id: str, contact_id: str, stage: str, status: str) -> Base:
    values = {
        "stage": stage,
        "status": status,
        "email": EMAIL,
        "first_name": "Ada",
        "last_name": "O'Brien",
        "company": "Engines",
    }
    return Base(
        values=values,
        salesforce_values={},
        hubspot_values={},
        salesforce_object="Lead",
        salesforce_id=lead_id,
        hubspot_id=contact_id,
    )


def test_qualified_in_salesforce_reaches_hubspot_and_nothing_echoes(
    boxes: tuple[SalesforceSandbox, HubSpotSandbox],
) -> None:
    sf_box, hs_box = boxes
    cmap = load_map(MAPPINGS / "default.yaml")
    crms = Crms(sf_box, hs_box, cmap)
    lead_id, contact_id = _person(crms, hs_box, Status="Qualified", Lead_Stage__c="Marketing Qualified Lead")

    sf, hs = crms.load(lead_id, contact_id)
    first = plan(sf, hs, _base(cmap, lead_id, contact_id, "mql", "working"), None, cmap)
    assert first.values["stage"] == "sql" and first.values["status"] == "qualified"
    crms.execute(first)

    sf, hs = crms.load(lead_id, contact_id)
    assert sf.get("Lead_Stage__c") == "Sales Qualified Lead"
    assert hs.get("lifecyclestage") == "salesqualifiedlead" and hs.get("hs_lead_status") == "OPEN_DEAL"
    assert sf.get("HubSpot_Contact_ID__c") == contact_id and hs.get("salesforce_lead_id") == lead_id
    again = plan(sf, hs, first.new_base, None, cmap)
    assert not again.has_writes, again.writes


def test_a_recycle_moves_hubspot_back_through_clear_then_set(
    boxes: tuple[SalesforceSandbox, HubSpotSandbox],
) -> None:
    sf_box, hs_box = boxes
    cmap = load_map(MAPPINGS / "default.yaml")
    crms = Crms(sf_box, hs_box, cmap)
    lead_id, contact_id = _person(crms, hs_box, Status="Working", Lead_Stage__c="Lead")
    crms.hs.update({contact_id: {"lifecyclestage": "salesqualifiedlead"}})

    sf, hs = crms.load(lead_id, contact_id)
    recycle = plan(sf, hs, _base(cmap, lead_id, contact_id, "sql", "working"), None, cmap)
    assert [w.step for w in recycle.hubspot] == [1, 2]
    crms.execute(recycle)

    sf, hs = crms.load(lead_id, contact_id)
    assert hs.get("lifecyclestage") == "lead"
    assert not plan(sf, hs, recycle.new_base, None, cmap).has_writes
