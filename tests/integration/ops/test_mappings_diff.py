"""``crmsync mappings diff OLD NEW``: over the bases of people synced through both sandboxes, a map
change made for the test (two statuses' Salesforce values swapped, a stage value renamed) is counted
per status move and per unknown value, with samples; nothing is written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import MAPPINGS
from worker.state.store import State

from .conftest import Crmsync

pytestmark = pytest.mark.integration


def test_diff_counts_the_people_a_map_change_would_move(
    crmsync: Crmsync, state: State, synced_lead: Callable[..., tuple[str, str]], tmp_path: Path
) -> None:
    p1, _ = synced_lead("p1@example.com", Status="Working", Lead_Stage__c="Lead")
    p2, _ = synced_lead("p2@example.com", Status="Working", Lead_Stage__c="Marketing Qualified Lead")
    synced_lead("p3@example.com", Status="Meeting Set", Lead_Stage__c="Lead")
    old = MAPPINGS / "default.yaml"
    text = old.read_text()
    for a, b in (
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
    ):
        assert a in text
        text = text.replace(a, b)
    new = tmp_path / "new.yaml"
    new.write_text(text)
    bases_before = state.bases.get_many([f"sf:Lead:{p1}", f"sf:Lead:{p2}"])
    code, doc = crmsync.json("mappings", "diff", str(old), str(new))
    assert code == 0 and doc["people"] == 3
    [status] = doc["status"]
    assert (status["change"], status["people"]) == ("working → contacted", 2)
    assert sorted(status["sample"]) == sorted([f"sf:Lead:{p1}", f"sf:Lead:{p2}"])
    assert doc["stage"] == []  # HubSpot's value still reads as MQL
    [unknown] = doc["unknown_values"]["salesforce"]
    assert (unknown["change"], unknown["people"], unknown["sample"]) == (
        "stage 'Marketing Qualified Lead'",
        1,
        [f"sf:Lead:{p2}"],
    )
    assert state.bases.get_many([f"sf:Lead:{p1}", f"sf:Lead:{p2}"]) == bases_before
    same = crmsync("mappings", "diff", str(old), str(old))
    assert same.exit_code == 0 and "nobody would move" in same.stdout
