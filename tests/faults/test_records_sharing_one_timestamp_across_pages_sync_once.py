"""Promise: nothing lost, effectively-once effects, when a bulk load stamps many records alike.

500 HubSpot contacts (MQL) share one ``lastmodifieddate`` millisecond and 500 Salesforce leads share one
``SystemModstamp`` second, loaded in one go (as an import or a data loader does) after the daemon's
cursors. Each feed pages across them: HubSpot's search pages hold 200 and sort by one property, so the
poller walks the tied millisecond by id; Salesforce's query pages are cut to 200 rows
(``CRMSYNC_SALESFORCE_QUERY_BATCH_SIZE``) and the compound ``(SystemModstamp, Id)`` cursor continues
inside the second. The daemon ends converged: every record has exactly one partner on the other side,
linked both ways, every create audited, nothing dead-lettered, and a re-sync writes nothing."""

from __future__ import annotations

import time
from typing import Any

import pytest

from sandbox.hubspot.models import SYSTEM
from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.e2e.conftest import Service
from tests.faults.conftest import Workload, assert_converged, sf_api, start_daemon

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PEOPLE = 500


def test_500_records_sharing_one_timestamp_on_each_crm_sync_once_each(
    faults: Service, sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, redis_client: Any
) -> None:
    faults.env["CRMSYNC_SALESFORCE_QUERY_BATCH_SIZE"] = "200"
    start_daemon(faults, redis_client)
    time.sleep(1.1)  # the load's second starts after the cursors' second
    work = Workload(sf_api(sf_box), hs_box.client())
    with sf_box.org.lock:
        second = sf_box.org.now_ms() // 1000 * 1000
        for n in range(PEOPLE):
            email = f"bulk-lead{n}.{work.tag}@example.com"
            work.leads[email] = sf_box.org.create_raw(
                "Lead",
                {"LastName": f"Bulk{n}", "Company": "Loader", "Email": email, "Status": "Working"},
                sf_box.org.admin_id,
                at_ms=second,
            )
    store = hs_box.portal.stores["contacts"]
    with hs_box.backend.lock:
        moment = hs_box.portal.clock.now_ms()
        for n in range(PEOPLE):
            email = f"bulk-contact{n}.{work.tag}@example.com"
            props = {"email": email, "lastname": f"Bulk{n}", "lifecyclestage": "marketingqualifiedlead"}
            work.contacts[email] = str(store._insert(props, SYSTEM, created_ms=moment).id)
    with sf_box.org.lock:
        assert {sf_box.org.get("Lead", i)["SystemModstamp"] for i in work.leads.values()} == {second}
    with hs_box.backend.lock:
        assert {store.records[int(i)].updated_ms for i in work.contacts.values()} == {moment}

    assert_converged(sf_box, hs_box, redis_client, work, timeout=240)
