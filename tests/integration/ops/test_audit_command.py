"""``crmsync audit``: the audit stream filtered by person, run, field, rule, side and time, and
exported as JSONL and CSV, after real syncs through both sandboxes."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from worker.state.store import State
from worker.sync import Run, SyncService

from .conftest import Crmsync

pytestmark = pytest.mark.integration


@pytest.fixture
def history(
    service: SyncService, state: State, synced_lead: Callable[..., tuple[str, str]]
) -> dict[str, str]:
    """Two people synced, then one made SQL in HubSpot (a rule sets Qualified) in its own run."""
    ada, ada_cid = synced_lead("ada@example.com", Status="Working", Lead_Stage__c="Lead")
    bob, _ = synced_lead("bob@example.com", Status="Working", Lead_Stage__c="Lead")
    time.sleep(0.01)
    middle = int(time.time() * 1000)
    time.sleep(0.01)
    service.hs.update({ada_cid: {"lifecyclestage": "salesqualifiedlead"}})
    run = Run.new("test")
    service.sync_one(f"hs:contacts:{ada_cid}", run)
    return {"ada": ada, "ada_cid": ada_cid, "bob": bob, "run": run.id, "middle": str(middle)}


def jsonl(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line]


def test_filters_by_person_run_field_rule_side_and_time(
    crmsync: Crmsync, state: State, history: dict[str, str]
) -> None:
    everything = jsonl(crmsync("audit", "--json").stdout)
    assert len(everything) == state.audit.length() > 0
    by_person = jsonl(crmsync("audit", "--person", f"hs:contacts:{history['ada_cid']}", "--json").stdout)
    assert by_person and {e["person"] for e in by_person} == {f"sf:Lead:{history['ada']}"}
    by_run = jsonl(crmsync("audit", "--run", history["run"], "--json").stdout)
    assert by_run and {e["run"] for e in by_run} == {history["run"]}
    assert {e["run"] for e in everything} - {history["run"]}  # the filter removed something
    stage = jsonl(crmsync("audit", "--run", history["run"], "--field", "Lead_Stage__c", "--json").stdout)
    assert [(e["before"], e["after"]) for e in stage] == [("Lead", "Sales Qualified Lead")]
    by_map_id = jsonl(crmsync("audit", "--run", history["run"], "--field", "status", "--json").stdout)
    assert {e["field"] for e in by_map_id} == {"Status", "hs_lead_status"}
    rule = jsonl(crmsync("audit", "--rule", "sql_sets_qualified", "--json").stdout)
    assert rule and all(str(e["cause"]).startswith("rule|sql_sets_qualified|") for e in rule)
    assert all(e["run"] == history["run"] for e in rule)
    hubspot = jsonl(crmsync("audit", "--side", "hubspot", "--json").stdout)
    assert hubspot and {e["side"] for e in hubspot} == {"hubspot"}
    later = jsonl(crmsync("audit", "--since", _iso(history["middle"]), "--json").stdout)
    assert {e["run"] for e in later} == {history["run"]}
    earlier = jsonl(crmsync("audit", "--until", _iso(history["middle"]), "--json").stdout)
    assert len(earlier) + len(later) == len(everything)
    assert len(jsonl(crmsync("audit", "--limit", "2", "--json").stdout)) == 2


def _iso(ms: str) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(int(ms) / 1000, UTC).isoformat(timespec="milliseconds")


def test_exports_jsonl_and_csv_files_with_every_field(
    crmsync: Crmsync, state: State, history: dict[str, str], tmp_path: Path
) -> None:
    result = crmsync("audit", "--run", history["run"], "--format", "csv", "-o", str(tmp_path / "a.csv"))
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO((tmp_path / "a.csv").read_text())))
    lines = jsonl(crmsync("audit", "--run", history["run"], "--json").stdout)
    assert len(rows) == len(lines) > 0 and f"{len(rows)} entries written" in result.stderr
    assert [r["field"] for r in rows] == [e["field"] for e in lines]
    assert rows[0]["at"].endswith("+00:00") and rows[0]["cause"] == lines[0]["cause"]
    crmsync("audit", "--format", "jsonl", "-o", str(tmp_path / "a.jsonl"))
    assert len(jsonl((tmp_path / "a.jsonl").read_text())) == state.audit.length()


def test_the_table_lists_entries(crmsync: Crmsync, history: dict[str, str]) -> None:
    result = crmsync("audit", "--run", history["run"], "--field", "Lead_Stage__c")
    assert result.exit_code == 0 and "Sales Qualified Lead" in result.stdout and "1 entries" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "is not a time"),
        (["--format", "xml"], "--format must be table, jsonl or csv"),
        (["--side", "sap"], "--side must be salesforce or hubspot"),
    ],
)
def test_bad_filters_exit_2(crmsync: Crmsync, state: State, args: list[str], message: str) -> None:
    result = crmsync("audit", *args)
    assert result.exit_code == 2 and message in result.stderr
