"""A Contact met for the first time that a Lead was converted into (before the worker ever saw the
lead: a conversion during an outage, or an org the worker joins late) carries the conversion fact, so
the map's ``lead_converted`` rule applies to the person as it would have had the lead been synced."""

from __future__ import annotations

import pytest

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from worker.sync import Disposition, Run, SyncService

pytestmark = pytest.mark.integration


def test_a_contact_converted_from_an_unseen_lead_is_synced_as_converted(
    sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, service: SyncService
) -> None:
    org = sf_box.org
    lead = org.create(
        "Lead",
        {"LastName": "Late", "Company": "C", "Email": "late@example.com", "Status": "Qualified"},
        org.admin_id,
    )
    contact = org.convert_lead(lead, "Converted", org.admin_id, do_not_create_opportunity=True)["contactId"]
    outcome = service.sync_one(f"sf:Contact:{contact}", Run.new("test"))
    assert outcome.disposition is Disposition.SYNCED, outcome.detail
    [made] = [r.props for r in hs_box.portal.stores["contacts"].records.values()]
    assert made["email"] == "late@example.com"
    assert made["hs_lead_status"] == "OPEN_DEAL"  # the map's status for converted


def test_a_contact_never_converted_from_a_lead_is_not(
    sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, service: SyncService
) -> None:
    org = sf_box.org
    contact = org.create("Contact", {"LastName": "Plain", "Email": "plain@example.com"}, org.admin_id)
    outcome = service.sync_one(f"sf:Contact:{contact}", Run.new("test"))
    assert outcome.disposition is Disposition.SYNCED, outcome.detail
    [made] = [r.props for r in hs_box.portal.stores["contacts"].records.values()]
    assert made.get("hs_lead_status") != "OPEN_DEAL"
