"""Promise: nothing lost — a change made while a CRM's change feed cannot show it yet is still captured.

- HubSpot's CRM search is eventually consistent: a change becomes searchable some seconds after it was
  made, and not in the order made. Here the sandbox's index lags 15 s for the first half of a set of
  edits and not at all for the second half, so the poller reads the later edits first and its cursor
  passes the earlier ones while they are still invisible. The poll's lookback (20 s, longer than the
  lag) re-reads what could have become visible since the previous poll: every edit reaches Salesforce.
- Salesforce: a long transaction commits after rows stamped later were read, so its rows carry a
  ``SystemModstamp`` older than the poller's cursor (the sandbox's ``late_commit``). The poll re-reads
  its lookback window (60 s here) and the change reaches HubSpot.

Both end converged: one record per person per side, linked, nothing dead-lettered, every create and
every carried edit audited, and a re-sync writes nothing."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.e2e.conftest import Service, wait_until
from tests.faults.conftest import (
    Workload,
    assert_converged,
    hs_contacts,
    sf_api,
    sf_leads,
    start_daemon,
)
from worker.crm.salesforce.cursor import parse_sf_datetime
from worker.state.audit import AuditLog

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
LAG_MS = 15_000
HS_LOOKBACK_S = 20  # longer than the lag: a change invisible to one poll is in the next polls' window
SF_LOOKBACK_S = 60
LATE_S = 20  # the late commit's SystemModstamp, seconds before now (inside the lookback)


def _sf_phone(sf_box: SalesforceSandbox, email: str) -> str | None:
    return sf_leads(sf_box, {email})[email][0].get("Phone")


def _lead_id(sf_box: SalesforceSandbox, email: str) -> str:
    return str(sf_leads(sf_box, {email})[email][0]["Id"])


def test_hubspot_edits_hidden_by_a_lagging_search_index_still_reach_salesforce(
    faults: Service, sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, redis_client: Any
) -> None:
    faults.env.update(
        {"CRMSYNC_HUBSPOT_INDEX_LAG_MARGIN_S": "0", "CRMSYNC_HUBSPOT_LOOKBACK_S": str(HS_LOOKBACK_S)}
    )
    start_daemon(faults, redis_client)
    work = Workload(sf_api(sf_box), hs_box.client())
    work.make(leads=0, contacts=10)
    assert_converged(sf_box, hs_box, redis_client, work)

    emails = sorted(work.contacts)
    lagged, prompt = emails[:5], emails[5:]
    phones = {email: f"+1 555 01{n:02d}" for n, email in enumerate(emails)}
    api = hs_box.client().crm.contacts.basic_api
    hs_box.configure(index_lag_ms=LAG_MS)
    for email in lagged:
        api.update(work.contacts[email], {"properties": {"phone": phones[email]}})
    hs_box.configure(index_lag_ms=0)
    for email in prompt:
        api.update(work.contacts[email], {"properties": {"phone": phones[email]}})

    wait_until(
        "the prompt edits in Salesforce",
        lambda: all(_sf_phone(sf_box, e) == phones[e] for e in prompt),
        timeout=60,
    )
    # the poller has read past the lagged edits' times while the index still shows them unchanged
    cursor = json.loads(redis_client.get("crmsync:cursor:hubspot:contacts"))["cursor"]
    recs = hs_contacts(hs_box, set(lagged))
    with hs_box.backend.lock:
        index = hs_box.portal.stores["contacts"].index.docs
        hidden = [e for e in lagged if index[recs[e][0].id].props.get("phone") != phones[e]]
    assert int(cursor.split(":")[0]) > max(recs[e][0].updated_ms for e in lagged)
    assert hidden, "every lagged edit became searchable before the poller passed it: no lag was tested"

    wait_until(
        "the lagged edits in Salesforce",
        lambda: all(_sf_phone(sf_box, e) == phones[e] for e in lagged),
        timeout=60,
    )
    assert_converged(sf_box, hs_box, redis_client, work)
    audited = {(e.record, e.after) for e in AuditLog(redis_client).entries() if e.field == "Phone"}
    assert {(_lead_id(sf_box, e), phones[e]) for e in emails} <= audited


def test_a_salesforce_commit_older_than_the_cursor_reaches_hubspot(
    faults: Service, sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, redis_client: Any
) -> None:
    faults.env["CRMSYNC_SALESFORCE_LOOKBACK_SECONDS"] = str(SF_LOOKBACK_S)
    start_daemon(faults, redis_client)
    work = Workload(sf_api(sf_box), hs_box.client())
    work.make(leads=4)
    assert_converged(sf_box, hs_box, redis_client, work)

    late, *others = sorted(work.leads)
    for n, email in enumerate(others):  # later changes: the cursor moves past now - LATE_S
        work.sf.Lead.update(work.leads[email], {"Title": f"Title {n}"})

    def cursor() -> dt.datetime:
        return parse_sf_datetime(json.loads(redis_client.get("crmsync:cursor:salesforce:Lead"))["modstamp"])

    start = dt.datetime.now(dt.UTC).replace(microsecond=0)
    wait_until("the cursor past the later changes", lambda: cursor() >= start, timeout=60)
    sf_box.org.late_commit("Lead", work.leads[late], {"Phone": "+1 555 0199"}, LATE_S)
    stamp_ms = sf_box.org.get("Lead", work.leads[late])["SystemModstamp"]
    stamp = dt.datetime.fromtimestamp(stamp_ms / 1000, dt.UTC)
    assert stamp < cursor(), (stamp, cursor())

    contact_id = str(hs_contacts(hs_box, {late})[late][0].id)
    wait_until(
        "the late commit in HubSpot",
        lambda: hs_contacts(hs_box, {late})[late][0].props.get("phone") == "+1 555 0199",
        timeout=60,
    )
    assert contact_id == str(hs_contacts(hs_box, {late})[late][0].id)
    assert_converged(sf_box, hs_box, redis_client, work)
    audited = {(e.record, e.after) for e in AuditLog(redis_client).entries() if e.field == "phone"}
    assert (contact_id, "+1 555 0199") in audited
