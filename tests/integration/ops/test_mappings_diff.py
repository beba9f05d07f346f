"""``crmsync mappings diff OLD NEW [--live]``: over people synced through both sandboxes, map changes
made for the test are counted per stage, status, rule, next-sync write and unknown value, with samples
— from the stored bases, and with ``--live`` from the records read from both CRMs (an edit made since
the last sync counts there and not in the stored diff). Nothing is written: no CRM record changes, no
Redis key changes (the shared rate limiter's and API-usage keys excepted: reads are counted)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.conftest import MAPPINGS
from worker.state.store import State

from .conftest import Crmsync

pytestmark = pytest.mark.integration
OLD = MAPPINGS / "default.yaml"
NEW_RULE = """
  - id: meeting_set_means_sql
    description: A meeting booked before SQL makes the person an SQL.
    when: {event: status_changed, to: meeting_set}
    if: {stage_before: sql}
    then: {set_stage: sql}
"""


def changed_map(tmp_path: Path, *edits: tuple[str, str]) -> Path:
    text = OLD.read_text()
    for a, b in edits:
        assert a in text
        text = text.replace(a, b)
    new = tmp_path / "new.yaml"
    new.write_text(text)
    return new


ADD_RULE = ("\nfields:\n", NEW_RULE + "\nfields:\n")


def rows(doc: dict[str, Any], kind: str) -> dict[str, tuple[int, list[str]]]:
    return {r["change"]: (r["people"], sorted(r["sample"])) for r in doc[kind]}


def test_renamed_and_swapped_values_are_counted_with_the_writes_the_next_sync_would_make(
    crmsync: Crmsync, state: State, synced_lead: Callable[..., tuple[str, str]], tmp_path: Path
) -> None:
    p1, _ = synced_lead("p1@example.com", Status="Working", Lead_Stage__c="Lead")
    p2, _ = synced_lead("p2@example.com", Status="Working", Lead_Stage__c="Marketing Qualified Lead")
    synced_lead("p3@example.com", Status="Meeting Set", Lead_Stage__c="Lead")
    new = changed_map(
        tmp_path,
        (
            "{id: contacted, label: Contacted, salesforce: Contacted,",
            "{id: contacted, label: Contacted, salesforce: Working,",
        ),
        (
            "{id: working, label: Working, salesforce: Working,",
            "{id: working, label: Working, salesforce: Contacted,",
        ),
        (
            "rank: 30, hubspot: marketingqualifiedlead, salesforce: Marketing Qualified Lead}",
            "rank: 30, hubspot: marketingqualifiedlead, salesforce: MQL}",
        ),
    )
    two = sorted([f"sf:Lead:{p1}", f"sf:Lead:{p2}"])
    bases_before = state.bases.get_many(two)
    code, doc = crmsync.json("mappings", "diff", str(OLD), str(new))
    assert code == 0 and (doc["source"], doc["people"]) == ("stored", 3)
    # NEW reads Salesforce's 'Working' as Contacted (Salesforce owns the status) ...
    assert rows(doc, "status") == {"working → contacted": (2, two)}
    assert doc["stage"] == [] and doc["rules"] == []  # HubSpot's value still reads as MQL
    # ... while its next sync keeps them Working and writes NEW's value for Working to Salesforce
    assert rows(doc, "writes") == {"salesforce Status 'Working' → 'Contacted'": (2, two)}
    assert rows(doc["unknown_values"], "salesforce") == {
        "stage 'Marketing Qualified Lead'": (1, [f"sf:Lead:{p2}"])
    }
    assert state.bases.get_many(two) == bases_before
    same = crmsync("mappings", "diff", "default", str(OLD))
    assert same.exit_code == 0 and "nobody would move" in same.stdout


def test_a_new_rule_is_counted_per_rule_with_the_moves_it_causes(
    crmsync: Crmsync, synced_lead: Callable[..., tuple[str, str]], tmp_path: Path
) -> None:
    synced_lead("p1@example.com", Status="Working", Lead_Stage__c="Lead")
    p3, _ = synced_lead("p3@example.com", Status="Meeting Set", Lead_Stage__c="Lead")
    p4, _ = synced_lead("p4@example.com", Status="Meeting Set", Lead_Stage__c="Marketing Qualified Lead")
    code, doc = crmsync.json("mappings", "diff", str(OLD), str(changed_map(tmp_path, ADD_RULE)))
    assert code == 0 and doc["people"] == 3
    p3, p4 = f"sf:Lead:{p3}", f"sf:Lead:{p4}"
    assert rows(doc, "rules") == {
        "meeting_set_means_sql: applies": (2, sorted([p3, p4])),
        "sql_sets_qualified: applies": (2, sorted([p3, p4])),  # the rule NEW's move chains into
    }
    assert rows(doc, "stage") == {"lead → sql": (1, [p3]), "mql → sql": (1, [p4])}
    assert rows(doc, "status") == {"meeting_set → qualified": (2, sorted([p3, p4]))}
    # a rule reacts to a change: people already at Meeting Set get no write until something changes
    assert doc["writes"] == []
    text = crmsync("mappings", "diff", str(OLD), str(changed_map(tmp_path, ADD_RULE))).stdout
    assert "rule meeting_set_means_sql: applies: 2" in text


def crm_snapshot(sf_box: SalesforceSandbox, hs_box: HubSpotSandbox) -> Any:
    sf = {name: copy.deepcopy(store.records) for name, store in sf_box.org.stores.items()}
    hs = {
        name: {rid: (dict(r.props), r.updated_ms, r.archived) for rid, r in store.records.items()}
        for name, store in hs_box.portal.stores.items()
    }
    return sf, hs


def redis_snapshot(state: State) -> dict[bytes, Any]:
    r = state.redis
    counted = (b"crmsync:ratelimit:", b"crmsync:salesforce:api-usage:")
    return {k: r.dump(k) for k in r.scan_iter(match=b"*") if not k.startswith(counted)}


def test_live_reads_both_crms_and_writes_nothing(
    crmsync: Crmsync,
    state: State,
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    synced_lead: Callable[..., tuple[str, str]],
    tmp_path: Path,
) -> None:
    p1, c1 = synced_lead("p1@example.com", Status="Working", Lead_Stage__c="Lead")
    p3, _ = synced_lead("p3@example.com", Status="Meeting Set", Lead_Stage__c="Lead")
    p4, _ = synced_lead("p4@example.com", Status="Meeting Set", Lead_Stage__c="Marketing Qualified Lead")
    sf_box.org.update("Lead", p1, {"Status": "Meeting Set"}, sf_box.org.admin_id)  # not synced yet
    new = str(changed_map(tmp_path, ADD_RULE))
    code, stored = crmsync.json("mappings", "diff", str(OLD), new)
    assert code == 0 and rows(stored, "rules")["meeting_set_means_sql: applies"][0] == 2
    crms, keys = crm_snapshot(sf_box, hs_box), redis_snapshot(state)
    calls = sf_box.org.api_used
    code, live = crmsync.json("mappings", "diff", str(OLD), new, "--live")
    assert code == 0 and (live["source"], live["people"]) == ("live", 3)
    everyone = sorted(f"sf:Lead:{p}" for p in (p1, p3, p4))
    assert rows(live, "rules")["meeting_set_means_sql: applies"] == (3, everyone)
    assert rows(live, "stage") == {
        "lead → sql": (2, sorted([f"sf:Lead:{p1}", f"sf:Lead:{p3}"])),
        "mql → sql": (1, [f"sf:Lead:{p4}"]),
    }
    # p1's pending edit fires the new rule on its next sync: the stage moves on both sides (OLD's sync
    # would only copy the status across, which both maps do)
    assert rows(live, "writes") == {
        "salesforce Lead_Stage__c 'Lead' → 'Sales Qualified Lead'": (1, [f"sf:Lead:{p1}"]),
        "hubspot lifecyclestage 'lead' → 'salesqualifiedlead'": (1, [f"sf:Lead:{p1}"]),
    }
    assert crm_snapshot(sf_box, hs_box) == crms, "a CRM record changed"
    assert redis_snapshot(state) == keys, "Redis state changed"
    assert sf_box.org.api_used - calls <= 2  # one query for the three leads (+ a login)
    assert hs_box.portal.stores["contacts"].records[int(c1)].props["hs_lead_status"] == "IN_PROGRESS"
