"""``crmsync report funnel``: per stage of the map, entered / moved on / to the next stage, conversion
and median days in stage, from a stage history written to the audit stream for the test (a move
audited on both sides counts once; a recycle counts as moving on, not as reaching the next stage)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from worker.state.audit import AuditEntry
from worker.state.store import State

from .conftest import Crmsync

pytestmark = pytest.mark.integration
DAY = 86_400_000
T0 = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp() * 1000)
SF = {
    "lead": "Lead",
    "mql": "Marketing Qualified Lead",
    "sql": "Sales Qualified Lead",
    "opportunity": "Opportunity",
}
HS = {
    "lead": "lead",
    "mql": "marketingqualifiedlead",
    "sql": "salesqualifiedlead",
    "opportunity": "opportunity",
}


def move(person: str, before: str, after: str, at: int, *, both_sides: bool = False) -> list[AuditEntry]:
    out = [
        AuditEntry(
            "r",
            "live",
            person,
            "salesforce",
            "Lead",
            "00Q",
            "Lead_Stage__c",
            SF[before],
            SF[after],
            "field|stage|x",
            at_ms=at,
        )
    ]
    if both_sides:
        out.append(
            AuditEntry(
                "r",
                "live",
                person,
                "hubspot",
                "contacts",
                "1",
                "lifecyclestage",
                HS[before],
                HS[after],
                "field|stage|x",
                at_ms=at,
            )
        )
    return out


@pytest.fixture
def history(state: State) -> None:
    entries = [
        *move("p1", "lead", "mql", T0, both_sides=True),
        *move("p1", "mql", "sql", T0 + 2 * DAY, both_sides=True),
        *move("p1", "sql", "opportunity", T0 + 5 * DAY),
        *move("p2", "lead", "mql", T0 + 1 * DAY),
        *move("p2", "mql", "lead", T0 + 4 * DAY),  # recycled
        *move("p3", "lead", "mql", T0 + 3 * DAY),
    ]
    state.audit.append(entries)


def rows(doc: dict[str, object]) -> dict[str, dict[str, object]]:
    return {r["stage"]: r for r in doc["stages"]}  # type: ignore[attr-defined, index]


def test_the_funnel_counts_entries_moves_conversions_and_time_in_stage(
    crmsync: Crmsync, history: None
) -> None:
    code, doc = crmsync.json("report", "funnel")
    assert code == 0
    r = rows(doc)
    assert (r["mql"]["entered"], r["mql"]["moved_on"], r["mql"]["to_next"]) == (3, 2, 1)
    assert r["mql"]["median_days_in_stage"] == 2.5 and r["mql"]["conversion"] == round(2 / 3, 4)
    assert (r["sql"]["entered"], r["sql"]["moved_on"], r["sql"]["to_next"]) == (1, 1, 1)
    assert r["sql"]["median_days_in_stage"] == 3.0
    assert (r["lead"]["entered"], r["lead"]["moved_on"]) == (1, 0)  # p2 re-entered Lead
    assert (r["opportunity"]["entered"], r["customer"]["entered"]) == (1, 0)


def test_since_counts_only_stages_entered_in_the_window(crmsync: Crmsync, history: None) -> None:
    since = datetime.fromtimestamp((T0 + 2.5 * DAY) / 1000, UTC).isoformat()
    code, doc = crmsync.json("report", "funnel", "--since", since)
    assert code == 0
    r = rows(doc)
    assert (r["mql"]["entered"], r["sql"]["entered"], r["opportunity"]["entered"], r["lead"]["entered"]) == (
        1,
        0,
        1,
        1,
    )


def test_table_and_csv(crmsync: Crmsync, history: None) -> None:
    table = crmsync("report", "funnel").stdout
    assert "Marketing Qualified Lead" in table and "67%" in table
    parsed = list(csv.DictReader(io.StringIO(crmsync("report", "funnel", "--format", "csv").stdout)))
    assert [p["stage"] for p in parsed][:3] == ["disqualified", "subscriber", "lead"]
    assert next(p for p in parsed if p["stage"] == "mql")["entered"] == "3"
