"""Data from the CRMs is hostile, through the sync service, both sandboxes over HTTP(S) and the sync
task's loop (``worker.drain``): quotes, backslashes and SOQL operators in an email never change the
query that matches it (nobody is linked to someone else's lead); `%` and `_` are no wildcards; a 1 MB
email or name, a lone surrogate, an unknown picklist value, a missing name and an org's own required
field each end as a synced person or one dead letter naming the field and the CRM's problem — in one
batch with good people, who sync. Nothing is left in the dirty set to be retried, Salesforce is not
paused for everyone, and a dead letter stays small whatever the value's size."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from sandbox.hubspot.models import SYSTEM
from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.schema import SCHEMA
from sandbox.salesforce.server import SalesforceSandbox
from worker.drain import DrainPolicy, drain
from worker.state.runtime import TaskAttempts
from worker.state.store import State
from worker.sync import SyncService
from worker.sync.outcome import Run

pytestmark = pytest.mark.integration
MQL = "marketingqualifiedlead"
MB = 1_000_000
INJECTED_ID = "00Q' OR Id != null OR Id = '"
POLICY = DrainPolicy(batch_size=50, lease_s=60, max_attempts=3, backoff_s=0.2, backoff_max_s=0.5, budget_s=60)

#: name -> (HubSpot contact properties, what must happen: ("synced", Salesforce Lead fields it must
#: hold exactly) or ("dead", field named, CRM code))
CASES: dict[str, tuple[dict[str, str], tuple[Any, ...]]] = {
    "quote": ({"email": "o'brien@example.com", "lastname": "O'Brien"}, ("synced", {"LastName": "O'Brien"})),
    "percent": ({"email": "%@example.com", "lastname": "Pct"}, ("synced", {"LastName": "Pct"})),
    "underscore": ({"email": "_@example.com", "lastname": "Us"}, ("synced", {"LastName": "Us"})),
    "or_injection": ({"email": "x' OR Email != '@example.com"}, ("dead", "Email", "INVALID_EMAIL_ADDRESS")),
    "backslash_injection": (
        {"email": "a\\' OR Id != null OR Email = '\\@example.com"},
        ("dead", "Email", "INVALID_EMAIL_ADDRESS"),
    ),
    "huge_email": ({"email": "a" * MB + "@example.com"}, ("dead", "Email", "STRING_TOO_LONG")),
    "huge_name": (
        {"email": "huge@example.com", "lastname": "L" * MB}, ("dead", "Last Name", "STRING_TOO_LONG")
    ),
    "lone_surrogate": ({"email": "sur@example.com", "firstname": "A\ud800B", "lastname": "S"}, ("final",)),
    "unknown_status": (
        {"email": "pick@example.com", "lastname": "P", "hs_lead_status": "NOT_AN_OPTION"}, ("synced", {})
    ),
    "no_name": (
        {"email": "noname@example.com"},
        ("synced", {"LastName": "[not provided]", "Company": "[not provided]"}),
    ),
    # a link property holding SOQL: read as no Salesforce id at all
    "id_injection": (
        {"email": "linkid@example.com", "lastname": "Link", "salesforce_lead_id": INJECTED_ID},
        ("synced", {"LastName": "Link"}),
    ),
    "good": ({"email": "good@example.com", "lastname": "Good"}, ("synced", {"LastName": "Good"})),
}  # fmt: skip


def contact(hs_box: HubSpotSandbox, props: dict[str, str]) -> str:
    """A contact as HubSpot holds it: stored raw, since HubSpot's own validation may have been looser
    when it was written (an import, another integration, an older portal)."""
    store = hs_box.portal.stores["contacts"]
    with hs_box.backend.lock:
        return str(store._insert({"lifecyclestage": MQL, **props}, SYSTEM).id)


def leads_by_email(sf_box: SalesforceSandbox) -> dict[str, dict[str, Any]]:
    with sf_box.org.lock:
        return {str(r.get("Email")): dict(r) for r in sf_box.org.stores["Lead"].records.values()}


def test_hostile_values_in_one_batch(
    sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, service: SyncService, state: State, redis_client: Any
) -> None:
    org = sf_box.org
    victim = org.create(
        "Lead", {"LastName": "Victim", "Company": "V", "Email": "victim@example.com"}, org.admin_id
    )
    ids = {name: contact(hs_box, props) for name, (props, _) in CASES.items()}
    state.dirty("hubspot").add("contacts", list(ids.values()))

    report = drain(service, state.dirty, TaskAttempts(redis_client), Run.new("test"), POLICY)

    assert report.paused == {}, report.paused  # no value pauses a CRM for everyone
    dirty = state.dirty("hubspot")
    assert dirty.size("contacts") == 0 and dirty.leased("contacts") == {}, "a key is left to be retried"
    assert report.dead_lettered_after_retries == 0 and "retry" not in report.by_disposition
    leads = leads_by_email(sf_box)
    assert org.get("Lead", victim).get("HubSpot_Contact_ID__c") in (None, "")  # nobody matched the victim
    for name, (props, expected) in CASES.items():
        key = f"hs:contacts:{ids[name]}"
        letter = state.dead.get(key)
        if expected[0] == "synced":
            assert letter is None, (name, letter)
            lead = leads[props["email"]]
            assert lead["HubSpot_Contact_ID__c"] == ids[name] and lead["Id"] != victim
            for field, value in expected[1].items():
                assert lead[field] == value, (name, field)
        elif expected[0] == "dead":
            _, field, code = expected
            assert letter is not None and letter.reason == "rejected", name
            [failed] = letter.writes
            assert failed.code == code and failed.message.startswith(f"{field}:"), (name, failed)
            assert len(state.redis.hget("crmsync:dead:entries", key) or b"") < 50_000, name
        else:  # whatever Salesforce makes of it: synced or one dead letter, never a loop
            assert letter is None or letter.writes, name
    assert leads_by_email(sf_box)["pick@example.com"].get("Status") != "NOT_AN_OPTION"

    again = drain(service, state.dirty, TaskAttempts(redis_client), Run.new("test"), POLICY)
    assert again.keys == 0  # nothing came back to be tried again


def test_an_org_s_own_required_field_is_a_dead_letter_naming_it(
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    service: SyncService,
    state: State,
    redis_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An admin made a custom Lead field required: the create fails with REQUIRED_FIELD_MISSING naming
    it; the person is dead-lettered once and the next person syncs."""
    fields = SCHEMA["Lead"].fields
    monkeypatch.setitem(
        fields, "Unqualified_Reason__c", dataclasses.replace(fields["Unqualified_Reason__c"], required=True)
    )
    first = contact(hs_box, {"email": "first@example.com", "lastname": "First"})
    state.dirty("hubspot").add("contacts", [first])
    drain(service, state.dirty, TaskAttempts(redis_client), Run.new("test"), POLICY)
    letter = state.dead.get(f"hs:contacts:{first}")
    assert letter is not None and letter.reason == "rejected"
    [failed] = letter.writes
    assert failed.code == "REQUIRED_FIELD_MISSING" and "Unqualified_Reason__c" in failed.message
    assert state.dirty("hubspot").size("contacts") == 0 and state.dirty("hubspot").leased("contacts") == {}
    monkeypatch.undo()
    second = contact(hs_box, {"email": "second@example.com", "lastname": "Second"})
    state.dirty("hubspot").add("contacts", [second])
    report = drain(service, state.dirty, TaskAttempts(redis_client), Run.new("test"), POLICY)
    assert report.by_disposition == {"synced": 1}
