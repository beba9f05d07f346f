"""A dead letter is filed under the person id known when the sync failed; a record met alone is its own
person until it is linked, after which its person is the partner's. A later successful sync (an
operator's replay) must clear the entry in either case, or the dead-letter list never empties."""

from __future__ import annotations

import pytest

from sandbox.salesforce.server import SalesforceSandbox
from worker.state.store import State
from worker.sync import Disposition, Run, SyncService

pytestmark = pytest.mark.integration


def test_a_lead_given_up_alone_then_joined_to_a_contact_leaves_the_dead_letters_on_replay(
    sf_box: SalesforceSandbox, service: SyncService, state: State
) -> None:
    cid = service.hs.create({"h": {"email": "replay@example.com", "lifecyclestage": "lead"}})["h"].id or ""
    assert service.sync_one(f"hs:contacts:{cid}", Run.new("test")).disposition is Disposition.SYNCED
    lead = sf_box.org.create(
        "Lead", {"LastName": "R", "Company": "C", "Email": "replay@example.com"}, sf_box.org.admin_id
    )
    key = f"sf:Lead:{lead}"
    service.give_up([key], Run.new("test"), "gave up after 8 attempts: SERVER_UNAVAILABLE")
    assert state.dead.get(key) is not None  # filed under the lead's own key: it had no person yet

    replay = service.sync_one(key, Run.new("resync"))
    assert replay.disposition is Disposition.SYNCED, replay.detail
    assert replay.person == f"hs:contacts:{cid}"  # it joined the contact's person
    assert state.dead.get(key) is None and state.dead.count() == 0


def test_a_partner_synced_from_the_other_side_clears_the_dead_letter_of_the_record_it_linked(
    sf_box: SalesforceSandbox, service: SyncService, state: State
) -> None:
    lead = sf_box.org.create(
        "Lead", {"LastName": "P", "Company": "C", "Email": "partner@example.com"}, sf_box.org.admin_id
    )
    key = f"sf:Lead:{lead}"
    service.give_up([key], Run.new("test"), "gave up after 8 attempts: SERVER_UNAVAILABLE")
    mql = {"email": "partner@example.com", "lifecyclestage": "marketingqualifiedlead"}
    cid = service.hs.create({"h": mql})["h"].id or ""
    outcome = service.sync_one(f"hs:contacts:{cid}", Run.new("test"))  # links the lead by email
    assert outcome.disposition is Disposition.SYNCED, outcome.detail
    assert state.links.person_of([key]) == {key: f"hs:contacts:{cid}"}
    assert state.dead.get(key) is None and state.dead.count() == 0
