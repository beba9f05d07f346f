"""The receivers in the deployment: ``crmsync web`` gets HubSpot's signed webhooks and Salesforce's
Outbound Messages from the sandboxes, and the daemon syncs those people long before a poll would (the
polls run every 60 s here, so only the webhook path can explain a sync within seconds)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from simple_salesforce.api import Salesforce

from sandbox.hubspot.models import DEFAULT_CLIENT_SECRET
from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox, free_port
from tests.e2e.conftest import Service, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
FAST_S = 15.0  # far below the 60 s poll interval


def test_changes_signalled_by_webhooks_sync_within_seconds_in_both_directions(
    service: Service, sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, redis_client: Any
) -> None:
    port = free_port()
    # No CRMSYNC_HUBSPOT_APP_ID: this test edits HubSpot with the same app's token as the worker, and
    # the receiver would take those edits for the worker's own writes; the echo is a harmless no-op sync.
    env = {
        "CRMSYNC_SALESFORCE_POLL_SECONDS": "60",
        "CRMSYNC_HUBSPOT_POLL_SECONDS": "60",
        "CRMSYNC_HUBSPOT_APP_SECRET": DEFAULT_CLIENT_SECRET,
        "CRMSYNC_WEB_SALESFORCE_ORG_ID": sf_box.org.org_id,
    }
    web = service.start("web", "--port", str(port), **env)
    worker = service.start("worker", "-c", "2", **env)
    service.start("beat", **env)  # its first polls are due in 60 s: only webhooks can be faster
    wait_until("the worker", lambda: "ready." in service.log_of(worker), timeout=60)
    wait_until(
        "the receivers", lambda: "Uvicorn running" in service.log_of(web) or "started" in service.log_of(web)
    )
    hs_box.configure_webhooks(target_url=f"http://127.0.0.1:{port}/webhooks/hubspot")
    sf_box.enable_outbound(f"http://127.0.0.1:{port}/webhooks/salesforce/outbound")
    sf = Salesforce(
        instance_url=sf_box.instance_url, session_id=sf_box.new_session_id(), session=sf_box.session()
    )
    hs = hs_box.client()

    started = time.monotonic()
    lead_id = sf.Lead.create({"LastName": "Hook", "Company": "Webhooks", "Email": "hook@example.com"})["id"]

    def contact() -> dict[str, Any] | None:
        body = {
            "filterGroups": [
                {"filters": [{"propertyName": "email", "operator": "EQ", "value": "hook@example.com"}]}
            ],
            "properties": ["lifecyclestage", "salesforce_lead_id"],
        }
        found = hs.crm.contacts.search_api.do_search(body).results
        return {"id": found[0].id, **found[0].properties} if found else None

    found = wait_until("the contact, via the Outbound Message", contact, timeout=FAST_S)
    assert found["salesforce_lead_id"] == lead_id
    assert time.monotonic() - started < FAST_S

    started = time.monotonic()
    hs.crm.contacts.basic_api.update(
        found["id"], {"properties": {"lifecyclestage": "marketingqualifiedlead"}}
    )
    wait_until(
        "Lead Stage MQL in Salesforce, via the HubSpot webhook",
        lambda: sf.Lead.get(lead_id)["Lead_Stage__c"] == "Marketing Qualified Lead",
        timeout=FAST_S,
    )
    assert time.monotonic() - started < FAST_S
