"""``crmsync report exceptions``: people whose stored state contradicts the active map — a value the map
does not know (after a map change made for the test), a status whose implied stage is not the stage,
a dead letter — grouped by kind with their ids in both CRMs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import MAPPINGS
from worker.records import Base
from worker.state.deadletters import DeadLetter
from worker.state.store import State

from .conftest import Crmsync

pytestmark = pytest.mark.integration


def test_exceptions_are_grouped_by_kind_with_both_ids(
    crmsync: Crmsync, state: State, synced_lead: Callable[..., tuple[str, str]], tmp_path: Path
) -> None:
    mql, mql_cid = synced_lead("mql@example.com", Status="Working", Lead_Stage__c="Marketing Qualified Lead")
    synced_lead("fine@example.com", Status="Working", Lead_Stage__c="Lead")
    state.bases.put(
        "sf:Lead:00Q5g00000000ZZEAA",
        Base({"stage": "lead", "status": "qualified"}, {"stage": "Lead", "status": "Qualified"}, {}),
        fence=1,
    )
    state.dead.put(
        DeadLetter(
            "hs:contacts:77", "duplicate", detail="merge the duplicates", record_keys=("hs:contacts:77",)
        )
    )
    renamed = (
        (MAPPINGS / "default.yaml")
        .read_text()
        .replace(
            "hubspot: marketingqualifiedlead, salesforce: Marketing Qualified Lead}",
            "hubspot: marketingqualifiedlead, salesforce: MQL}",
        )
    )
    (tmp_path / "new.yaml").write_text(renamed)
    crmsync.env["CRMSYNC_MAP"] = str(tmp_path / "new.yaml")
    code, doc = crmsync.json("report", "exceptions")
    assert code == 0
    assert doc["by_kind"] == {"unknown_value": 1, "implied_stage_not_set": 1, "dead_letter": 1}
    by_kind = {e["kind"]: e for e in doc["people"]}
    unknown = by_kind["unknown_value"]
    assert (unknown["person"], unknown["salesforce"], unknown["hubspot"]) == (
        f"sf:Lead:{mql}",
        f"sf:Lead:{mql}",
        f"hs:contacts:{mql_cid}",
    )
    assert unknown["detail"] == "salesforce stage 'Marketing Qualified Lead'"
    assert "implies stage sql, stage is lead" in by_kind["implied_stage_not_set"]["detail"]
    assert by_kind["dead_letter"]["hubspot"] == "hs:contacts:77"
    table = crmsync("report", "exceptions").stdout
    assert "3 exception(s)" in table
