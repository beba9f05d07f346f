"""HubSpot deal facts come from HubSpot's calculated ``hs_is_closed`` / ``hs_is_closed_won``, which follow
each pipeline's stage settings: a deal in a custom pipeline's closed-won stage makes a customer without
configuring its stage id, and an open deal does not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.integration.sandboxes import make_service
from worker.state.store import State
from worker.sync import Disposition, Run

pytestmark = pytest.mark.integration
SIGNED = "contract_signed_3049"  # a custom pipeline's closed-won stage: ids are portal-specific


def deal_in(client: Any, cid: str, stage: str) -> str:
    deal = str(client.crm.deals.basic_api.create({"properties": {"dealname": "D", "dealstage": stage}}).id)
    client.crm.associations.v4.basic_api.create_default("contacts", cid, "deals", deal)
    return deal


def add_stage(hs_box: HubSpotSandbox, client: Any, stage: str, *, won: bool | None) -> None:
    options = [o.to_dict() for o in client.crm.properties.core_api.get_by_name("deals", "dealstage").options]
    options.append({"label": stage, "value": stage, "displayOrder": len(options), "hidden": False})
    client.crm.properties.core_api.update("deals", "dealstage", {"options": options})
    if won is not None:  # the stage's pipeline settings: closed, and won (probability 1.0) or lost
        hs_box.portal.settings.closed_deal_stages[stage] = won


@pytest.mark.parametrize(
    ("stage", "won", "hubspot", "salesforce"),
    [
        (SIGNED, True, "customer", "Customer"),  # closed won in its pipeline's settings
        ("discovery_3049", None, "opportunity", "Opportunity"),  # an open stage: an open opportunity
    ],
)
def test_a_deal_in_a_custom_pipeline_stage_counts_as_its_pipeline_says(
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    state: State,
    synced_lead: Callable[..., tuple[str, str]],
    stage: str,
    won: bool | None,
    hubspot: str,
    salesforce: str,
) -> None:
    lead, cid = synced_lead(Status="Qualified", Lead_Stage__c="Sales Qualified Lead")
    client = hs_box.client()
    add_stage(hs_box, client, stage, won=won)
    deal = deal_in(client, cid, stage)
    flags = client.crm.deals.basic_api.get_by_id(deal, properties=["hs_is_closed_won"]).properties
    assert flags["hs_is_closed_won"] == ("true" if won else "false")
    service = make_service(sf_box, hs_box, state)
    service.settings = service.settings.model_copy(update={"hubspot_deal_facts": True})
    outcome = service.sync_one(f"hs:contacts:{cid}", Run.new("test"))
    assert outcome.disposition is Disposition.SYNCED, outcome.detail
    assert hs_box.portal.stores["contacts"].records[int(cid)].props["lifecyclestage"] == hubspot
    assert sf_box.org.get("Lead", lead)["Lead_Stage__c"] == salesforce
