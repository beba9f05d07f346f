"""How many API calls one batch of people costs, counted in the sandboxes' request logs (every request
the worker's clients sent, by method and path): each phase of a person's life is the batch minimum —
one read per CRM for the whole batch, one write call per CRM written, no read-back after a write — and
the echo of the worker's own writes, coming back as keys of the CRM written, costs that CRM's read
alone (``bench/sync_runtime.py`` measures the same at the daemon's scale)."""

from __future__ import annotations

import re

import pytest

from sandbox.hubspot.models import SYSTEM
from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from worker.sync import Disposition, Run, SyncService

pytestmark = pytest.mark.integration

PEOPLE = 5


def calls(sf_box: SalesforceSandbox, hs_box: HubSpotSandbox) -> list[str]:
    """The requests both sandboxes logged since the last call, as ``crm METHOD what``, then cleared."""
    out = []
    with sf_box.org.lock:
        for r in sf_box.org.requests:
            # the outer query's FROM follows its subqueries' (``(SELECT … FROM Tasks WHERE …)``)
            froms = re.findall(r"\bFROM (\w+)(?: WHERE (\w+))?", r.soql)
            what = f"query {froms[-1][0]} by {froms[-1][1]}" if froms else re.sub(r"/v[0-9.]+/", "/", r.path)
            out.append(f"salesforce {r.method} {what}")
        sf_box.org.requests.clear()
    with hs_box.backend.lock:
        out += [f"hubspot {r.method} {r.path}" for r in hs_box.portal.requests]
        hs_box.portal.requests.clear()
    return sorted(out)


def phase(
    service: SyncService, sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, keys: list[str]
) -> list[str]:
    """Sync ``keys`` as one batch; the calls it made, which the service also counted."""
    out = service.sync_batch(keys, Run.new("live"))  # as the daemon syncs its change signals
    assert {o.disposition for o in out.keys.values()} == {Disposition.SYNCED}, out.keys
    made = calls(sf_box, hs_box)
    assert sum(out.api_calls.values()) == len(made)
    return made


HS_READ = "hubspot POST /crm/v3/objects/contacts/batch/read"
SF_READ = "salesforce GET query Lead by Id"


def test_a_batch_of_people_costs_one_read_per_crm_and_one_write_per_crm_written(
    sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, service: SyncService
) -> None:
    org = sf_box.org
    person = {"LastName": "Lovelace", "Company": "Engines", "Status": "Working"}
    leads = [
        org.create("Lead", {**person, "Email": f"ada{n}@example.com"}, org.admin_id) for n in range(PEOPLE)
    ]
    keys = [f"sf:Lead:{lead}" for lead in leads]
    service.sf.connection.client()  # the login is not the batch's
    calls(sf_box, hs_box)

    # first sight: read the leads, look their emails up in HubSpot (a batch read by email), create the
    # contacts (upserts on the create key), write their ids back onto the leads
    assert phase(service, sf_box, hs_box, keys) == [
        HS_READ,
        "hubspot POST /crm/v3/objects/contacts/batch/upsert",
        SF_READ,
        "salesforce PATCH /services/data/composite/sobjects",
    ]

    # a change on one side: both sides read once, the other side written once
    for lead in leads:
        org.update("Lead", lead, {"Status": "Meeting Set"}, org.admin_id)
    assert phase(service, sf_box, hs_box, keys) == [
        HS_READ,
        "hubspot POST /crm/v3/objects/contacts/batch/update",
        SF_READ,
    ]

    # the echo of those writes (the contacts' keys come back alone): the contacts hold what the bases
    # say, so Salesforce is not read
    contacts = [str(org.get("Lead", lead)["HubSpot_Contact_ID__c"]) for lead in leads]
    contact_keys = [f"hs:contacts:{cid}" for cid in contacts]
    assert phase(service, sf_box, hs_box, contact_keys) == [HS_READ]

    # a change in HubSpot: both read, Salesforce written; then the leads' echo reads Salesforce alone
    store = hs_box.portal.stores["contacts"]
    with hs_box.backend.lock:
        for cid in contacts:
            store.update(store.records[int(cid)], {"phone": f"+1555{cid}"}, SYSTEM)
    assert phase(service, sf_box, hs_box, contact_keys) == [
        HS_READ,
        SF_READ,
        "salesforce PATCH /services/data/composite/sobjects",
    ]
    assert {org.get("Lead", lead)["Phone"] for lead in leads} == {f"+1555{cid}" for cid in contacts}
    assert phase(service, sf_box, hs_box, keys) == [SF_READ]

    # keys of both CRMs in one batch: both sides are read (the batch read is one call either way)
    assert phase(service, sf_box, hs_box, contact_keys + keys) == [HS_READ, SF_READ]
