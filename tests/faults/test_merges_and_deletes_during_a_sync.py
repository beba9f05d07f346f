"""Promise: nothing lost, no duplicate, when people are merged or deleted in either CRM while the daemon
syncs (here: while it creates HubSpot contacts for 20 new leads).

- Two HubSpot contacts, each linked to its own Salesforce lead, are merged: HubSpot now says one human,
  Salesforce still holds two leads. A record is synced with one partner only, so the survivor keeps its
  lead and the loser's lead is neither linked to it nor given a new contact; the loser's lead can no
  longer be synced, so it is dead-lettered ``merged``, naming the lead to merge it into (DESIGN
  invariant 1: a change is synced or sits in a dead letter, never dropped). Once sales merges the two
  leads as well, nothing of that person is left and the dead letter clears itself (the two merges'
  waits overlap: Salesforce lists deletions by whole minutes).
- The mirror case: two linked Salesforce leads merged (the loser deleted with ``MasterRecordId``, read
  through ``queryAll``): the loser's contact is dead-lettered naming the contact to merge it into, and
  clears once marketing merges the contacts.
- A synced lead deleted in Salesforce, then its contact edited: no lead is recreated. A synced contact
  archived in HubSpot, then its lead edited: no contact is recreated. Neither is a dead letter.

Everyone else converges: one record per side, linked, every create audited, and a re-sync writes
nothing."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.e2e.conftest import Service, wait_until
from tests.faults.conftest import (
    Workload,
    assert_converged,
    hs_contacts,
    settled,
    sf_api,
    sf_leads,
    start_daemon,
)
from worker.state.deadletters import DeadLetterStore

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
DELETION_S = 150.0  # Salesforce lists deletions by whole minutes: a merge's loser shows within ~60 s


def _letters(state: Any) -> dict[str, Any]:
    """Dead letters by the record keys they name."""
    return {key: d for d in DeadLetterStore(state).newest(100) for key in d.record_keys}


def test_merges_and_deletes_on_either_side_during_a_sync_end_merged_dead_lettered_or_left_alone(
    faults: Service, sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, redis_client: Any
) -> None:
    start_daemon(faults, redis_client)
    sf, hs = sf_api(sf_box), hs_box.client()
    people = Workload(sf, hs)
    people.make(leads=6)
    assert_converged(sf_box, hs_box, redis_client, people)
    (a1, b1, a2, b2, d1, d2) = sorted(people.leads)
    contact = {e: str(hs_contacts(hs_box, {e})[e][0].id) for e in people.leads}
    lead = people.leads

    busy = Workload(sf, hs)
    busy.make(leads=20)  # the daemon is creating their contacts while the CRMs change underneath
    hs.crm.contacts.basic_api.merge({"primaryObjectId": contact[b1], "objectIdToMerge": contact[a1]})
    sf_box.merge("Lead", lead[b2], [lead[a2]])
    sf.Lead.delete(lead[d1])
    hs.crm.contacts.basic_api.archive(contact[d2])
    hs.crm.contacts.basic_api.update(contact[d1], {"properties": {"phone": "+1 555 0101"}})
    sf.Lead.update(lead[d2], {"Title": "Still here"})

    # HubSpot's merge shows at the next poll; the operator then merges the leads as well
    hs_merge = wait_until(
        "the HubSpot merge's loser dead-lettered",
        lambda: _letters(redis_client).get(f"sf:Lead:{lead[a1]}"),
        timeout=DELETION_S,
        every=0.5,
    )
    assert hs_merge.reason == "merged"
    assert f"hs:contacts:{contact[b1]}" in hs_merge.detail
    assert f"merge it into sf:Lead:{lead[b1]} in Salesforce" in hs_merge.detail
    sf_box.merge("Lead", lead[b1], [lead[a1]])
    # Salesforce's merge shows once its minute is covered by the deleted feed; then the contacts
    sf_merge = wait_until(
        "the Salesforce merge's loser dead-lettered",
        lambda: _letters(redis_client).get(f"hs:contacts:{contact[a2]}"),
        timeout=DELETION_S,
        every=0.5,
    )
    assert sf_merge.reason == "merged"
    assert f"sf:Lead:{lead[b2]}" in sf_merge.detail
    assert f"merge it into hs:contacts:{contact[b2]} in HubSpot" in sf_merge.detail
    hs.crm.contacts.basic_api.merge({"primaryObjectId": contact[b2], "objectIdToMerge": contact[a2]})

    # nothing of those two people is left: their letters clear; nobody else was dead-lettered
    wait_until("every dead letter cleared", lambda: not _letters(redis_client), timeout=DELETION_S, every=1.0)
    wait_until("the dirty sets to drain", lambda: settled(redis_client), timeout=DELETION_S, every=0.5)
    # nothing was recreated, linked twice or created for the merged-away and deleted records
    emails = set(lead)
    live_leads = {e: [r for r in rs if not r.get("IsDeleted")] for e, rs in sf_leads(sf_box, emails).items()}
    live_contacts = {e: [r for r in rs if not r.archived] for e, rs in hs_contacts(hs_box, emails).items()}
    assert {e: len(v) for e, v in live_leads.items() if v} == {b1: 1, b2: 1, d2: 1}
    assert {e: len(v) for e, v in live_contacts.items() if v} == {b1: 1, b2: 1, d1: 1}
    assert live_leads[b1][0]["HubSpot_Contact_ID__c"] == contact[b1]
    assert live_contacts[b2][0].props["salesforce_lead_id"] == lead[b2]
    survivors = Workload(sf, hs, leads={**busy.leads, b1: lead[b1], b2: lead[b2]})
    assert_converged(sf_box, hs_box, redis_client, survivors)
