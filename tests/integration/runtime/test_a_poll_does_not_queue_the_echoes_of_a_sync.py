"""A HubSpot poll recognises the echoes of the worker's own writes (``worker.capture.HubSpotEchoes``):
contacts a sync wrote, polled next, are not queued, while a person's edit read in the same page is, and
so is a contact whose link property or merge marker differs from what its person's base knows. Both
sandboxes over HTTP, the real clients, the state in Redis; edits through HubSpot's public API."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.salesforce.server import SalesforceSandbox
from worker.capture import HubSpotCapture, HubSpotEchoes
from worker.crm.hubspot import HubSpotAdapter
from worker.state.dirty import DirtySet
from worker.state.store import State
from worker.sync import Disposition, Run, SyncService

pytestmark = pytest.mark.integration


def _synced(sf_box: SalesforceSandbox, service: SyncService, n: int) -> tuple[list[str], list[str]]:
    """``n`` leads created in Salesforce and synced as one live batch: (lead ids, HubSpot contact ids)."""
    org = sf_box.org
    fields = {"Company": "Engines", "Status": "Working"}
    leads = [
        org.create("Lead", {"LastName": f"P{i}", "Email": f"p{i}@example.com", **fields}, org.admin_id)
        for i in range(n)
    ]
    out = service.sync_batch([f"sf:Lead:{lead}" for lead in leads], Run.new("live"))
    assert {o.disposition for o in out.keys.values()} == {Disposition.SYNCED}, out.keys
    return leads, [str(org.get("Lead", lead)["HubSpot_Contact_ID__c"]) for lead in leads]


def _capture(hs: HubSpotAdapter, state: State, service: SyncService, dirty: DirtySet) -> HubSpotCapture:
    return HubSpotCapture(hs, state.cursors, dirty, deals=False, echoes=HubSpotEchoes(state, service.cmap))


def test_the_next_poll_queues_a_real_edit_but_none_of_the_sync_s_echoes(
    sf_box: SalesforceSandbox, hs: HubSpotAdapter, hs_api: Any, state: State, service: SyncService
) -> None:
    dirty = DirtySet(state.redis, "hubspot")
    capture = _capture(hs, state, service, dirty)
    capture.poll()  # the cursor starts now, before the sync's writes
    leads, contacts = _synced(sf_box, service, 5)
    hs_api.crm.contacts.basic_api.update(contacts[2], {"properties": {"phone": "+1 555 0102"}})

    report = capture.poll()
    assert report.seen["contacts"] == 5 and report.pages == 1  # all five in the one page
    assert dirty.members("contacts") == {contacts[2]}
    assert report.echoes == 4

    # the status change a second sync carries to HubSpot comes back as echoes too
    for lead in leads:
        sf_box.org.update("Lead", lead, {"Status": "Meeting Set"}, sf_box.org.admin_id)
    dirty.pop("contacts", 10)
    out = service.sync_batch([f"sf:Lead:{lead}" for lead in leads], Run.new("live"))
    assert {o.disposition for o in out.keys.values()} == {Disposition.SYNCED}, out.keys
    report = capture.poll()
    assert report.seen["contacts"] == 5 and report.echoes == 5 and dirty.size("contacts") == 0


def test_a_contact_whose_link_or_merge_marker_changed_is_queued(
    sf_box: SalesforceSandbox, hs: HubSpotAdapter, hs_api: Any, state: State, service: SyncService
) -> None:
    dirty = DirtySet(state.redis, "hubspot")
    capture = _capture(hs, state, service, dirty)
    capture.poll()
    _, contacts = _synced(sf_box, service, 4)
    link = service.cmap.link_hs_lead_id
    hs_api.crm.contacts.basic_api.update(contacts[0], {"properties": {link: "00Q000000000999AAA"}})
    hs_api.crm.contacts.basic_api.update(contacts[1], {"properties": {link: ""}})
    hs_api.crm.contacts.basic_api.merge({"primaryObjectId": contacts[2], "objectIdToMerge": contacts[3]})

    report = capture.poll()
    # a link pointing elsewhere or nowhere, a merge survivor (and the id merged into it): all queued
    assert dirty.members("contacts") == {contacts[0], contacts[1], contacts[2], contacts[3]}
    assert report.echoes == 0
