"""``crmsync rollback RUN``: a run's writes are restored as new audited writes on both sides, people
changed since are skipped and listed (and left alone), ``--dry-run`` writes nothing, and a second
rollback of the same run restores nothing more."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from worker.state.store import State
from worker.sync import Run, SyncService

from .conftest import Crmsync

pytestmark = pytest.mark.integration


def stage_of(sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, lead: str, cid: str) -> tuple[str, str]:
    return (
        str(sf_box.org.get("Lead", lead)["Lead_Stage__c"]),
        str(hs_box.portal.stores["contacts"].records[int(cid)].props["lifecyclestage"]),
    )


@pytest.fixture
def bad_run(
    service: SyncService, synced_lead: Callable[..., tuple[str, str]]
) -> tuple[str, list[tuple[str, str]]]:
    """Two people marked MQL in HubSpot by mistake; one run carried it to Salesforce."""
    people = [synced_lead(f"p{i}@example.com", Status="Working", Lead_Stage__c="Lead") for i in range(2)]
    service.hs.update({cid: {"lifecyclestage": "marketingqualifiedlead"} for _, cid in people})
    run = Run.new("test")
    outcome = service.sync_batch([f"hs:contacts:{cid}" for _, cid in people], run)
    assert outcome.writes >= 2
    return run.id, people


def test_rollback_restores_the_run_s_writes_and_skips_people_changed_since(
    crmsync: Crmsync,
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    service: SyncService,
    state: State,
    bad_run: tuple[str, list[tuple[str, str]]],
) -> None:
    run_id, [(lead1, cid1), (lead2, _)] = bad_run
    assert stage_of(sf_box, hs_box, lead1, cid1) == ("Marketing Qualified Lead", "marketingqualifiedlead")
    # someone works the second person in Salesforce after the run
    service.sf.update("Lead", [(lead2, {"Lead_Stage__c": "Sales Qualified Lead"})])
    code, doc = crmsync.json("rollback", run_id)
    assert code == 0
    status = {p["person"]: p for p in doc["people"]}
    assert status[f"sf:Lead:{lead1}"]["status"] == "restored"
    skipped = status[f"sf:Lead:{lead2}"]
    assert skipped["status"] == "skipped"
    assert "salesforce Lead_Stage__c is now 'Sales Qualified Lead'" in skipped["reasons"][0]
    assert stage_of(sf_box, hs_box, lead1, cid1) == ("Lead", "lead")  # restored, and in agreement
    assert sf_box.org.get("Lead", lead2)["Lead_Stage__c"] == "Sales Qualified Lead"  # left alone
    [restore] = [e for e in state.audit.entries(run=doc["rollback_run"]) if e.field == "Lead_Stage__c"]
    assert (restore.before, restore.after, restore.run_kind) == (
        "Marketing Qualified Lead",
        "Lead",
        "rollback",
    )
    assert restore.cause.startswith(f"rollback|{run_id}|")
    # the rollback's own writes now stand after the run: nothing more to restore
    code, again = crmsync.json("rollback", run_id)
    assert code == 0 and {p["status"] for p in again["people"]} == {"skipped"}


def test_dry_run_shows_the_restores_and_writes_nothing(
    crmsync: Crmsync,
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    state: State,
    bad_run: tuple[str, list[tuple[str, str]]],
) -> None:
    run_id, people = bad_run
    audit_before = state.audit.length()
    result = crmsync("rollback", run_id, "--dry-run")
    assert result.exit_code == 0
    lead, cid = people[0]
    assert (
        f"would restore salesforce Lead {lead} Lead_Stage__c: 'Marketing Qualified Lead' -> 'Lead'"
        in result.stdout
    )
    assert stage_of(sf_box, hs_box, lead, cid) == ("Marketing Qualified Lead", "marketingqualifiedlead")
    assert state.audit.length() == audit_before


def test_an_unknown_run_exits_2(crmsync: Crmsync, state: State) -> None:
    result = crmsync("rollback", "live-000000000000")
    assert result.exit_code == 2 and "no audit entries for run 'live-000000000000'" in result.stderr
