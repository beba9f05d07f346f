"""A lead whose email HubSpot refuses (INVALID_EMAIL, a misspelled top-level domain) is dead-lettered with
HubSpot's reason, and the other 99 of the batch reach HubSpot (issue 9 item 2, through the sync service)."""

from __future__ import annotations

import pytest

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from worker.state.store import State
from worker.sync import Disposition, Run, SyncService

pytestmark = pytest.mark.integration


def test_one_bad_email_among_100_new_leads(
    sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, service: SyncService, state: State
) -> None:
    org = sf_box.org
    emails = [f"lead{i}@example.com" for i in range(100)]
    emails[57] = "jane@example.con"
    leads = [
        org.create("Lead", {"LastName": f"L{i}", "Company": "C", "Email": e}, org.admin_id)
        for i, e in enumerate(emails)
    ]
    outcome = service.sync_batch([f"sf:Lead:{lead}" for lead in leads], Run.new("test"))
    bad = f"sf:Lead:{leads[57]}"
    assert outcome.keys[bad].disposition is Disposition.DEAD_LETTERED
    letter = state.dead.get(bad)
    assert letter is not None and letter.reason == "rejected"
    [failed] = letter.writes
    assert failed.side == "hubspot" and failed.code == "VALIDATION_ERROR:INVALID_EMAIL"
    assert "Email address jane@example.con is invalid" in failed.message
    synced = [k for k, o in outcome.keys.items() if o.disposition is Disposition.SYNCED]
    assert len(synced) == 99
    written = {r.props.get("email") for r in hs_box.portal.stores["contacts"].records.values()}
    assert written == set(emails) - {"jane@example.con"}
