"""Promise: at-least-once processing with a worker whose clock is five minutes off (ahead or behind).

The only worker runs under libfaketime (Debian's ``faketime`` package: ``FAKETIME=±5m`` preloaded),
the beat and Redis on the true time. Leases, locks, pauses and the rate budget are timed by Redis, so
they do not move; change cursors are the ones at risk (a window closed by the worker's "now" would skip
or delay changes). People are made in both CRMs right after the skewed worker stored its first
cursors, then edited in both: every edit reaches the other side within a minute, and both CRMs
converge. The Salesforce lookback is cut to one minute, so it cannot hide a first cursor taken from the
worker's clock five minutes ahead (cursors start at each CRM's own clock, read from its ``Date``)."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.conftest import require_service
from tests.e2e.conftest import Service, wait_until
from tests.faults.conftest import Workload, assert_converged, hs_contacts, sf_api, sf_leads, wait_first_polls

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _faketime(offset: str) -> dict[str, str]:
    found = next(iter(Path("/usr/lib").glob("*/faketime/libfaketimeMT.so.1")), None)
    if found is None or shutil.which("faketime") is None:
        require_service("libfaketime (Debian package faketime)", "not installed")
    assert found is not None
    return {"LD_PRELOAD": str(found), "FAKETIME": offset, "FAKETIME_DONT_RESET": "1"}


@pytest.mark.parametrize("offset", ["+5m", "-5m"])
def test_a_worker_five_minutes_off_captures_and_converges(
    faults: Service, sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, redis_client: Any, offset: str
) -> None:
    skew = _faketime(offset)
    faults.start("beat")
    worker = faults.start("worker", "-c", "2", CRMSYNC_SALESFORCE_LOOKBACK_SECONDS="60", **skew)
    wait_first_polls(redis_client)
    work = Workload(sf_api(sf_box), hs_box.client())
    work.make(leads=6, contacts=4)  # right after start: before the worker's clock, not Salesforce's
    assert_converged(sf_box, hs_box, redis_client, work, timeout=90)

    # edits made after the skewed worker stored its cursors
    for lead_id in work.leads.values():
        work.sf.Lead.update(lead_id, {"Status": "Qualified"})
    for contact_id in work.contacts.values():
        work.hs.crm.contacts.basic_api.update(
            contact_id, {"properties": {"lifecyclestage": "salesqualifiedlead"}}
        )

    def carried() -> bool:
        contacts, leads = hs_contacts(hs_box, set(work.leads)), sf_leads(sf_box, set(work.contacts))
        return all(
            c[0].props.get("lifecyclestage") == "salesqualifiedlead" for c in contacts.values()
        ) and all(ls[0].get("Lead_Stage__c") == "Sales Qualified Lead" for ls in leads.values())

    wait_until("both sides' edits carried across", carried, timeout=60, every=1.0)
    assert_converged(sf_box, hs_box, redis_client, work, timeout=90)
    # the worker did run five minutes off: its log's last timestamp against the true time
    stamps = re.findall(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),", faults.log_of(worker), re.M)
    off = (dt.datetime.strptime(stamps[-1], "%Y-%m-%d %H:%M:%S") - dt.datetime.now()).total_seconds()
    assert abs(off - (300 if offset == "+5m" else -300)) < 60, off
