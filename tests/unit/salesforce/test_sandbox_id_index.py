"""The sandbox's ordered Id index (``Id > X … ORDER BY Id LIMIT n``, the backfill enumeration) answers
exactly what a scan of every record answers, and reads only as far as the LIMIT."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.salesforce.engine import Compiled, run_query
from sandbox.salesforce.ids import KEY_PREFIXES, make_id
from sandbox.salesforce.models import Org, Record

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def _org() -> tuple[Org, list[str]]:
    org = Org()
    ids: list[str] = []
    for i in range(70):
        # five records per second: SystemModstamp ties
        values = {"LastName": f"L{i}", "Company": "Acme", "Status": "Open" if i % 3 else "Working"}
        ids.append(org.create_raw("Lead", values, org.admin_id, at_ms=T0 + (i // 5) * 1000))
    for rid in ids[::7]:
        org.delete("Lead", rid, org.admin_id)
    org.update("Lead", ids[12], {"Status": "Qualified"}, org.admin_id)  # a later modstamp, same Id position
    return org, ids


ORG, IDS = _org()
A, B, LAST = IDS[10], IDS[35], IDS[-1]
QUERIES = [
    "SELECT Id FROM Lead ORDER BY Id LIMIT 10",
    f"SELECT Id FROM Lead WHERE Id > '{A}' ORDER BY Id LIMIT 10",
    f"SELECT Id FROM Lead WHERE Id >= '{A}' ORDER BY Id LIMIT 10",
    f"SELECT Id FROM Lead WHERE Id > '{A[:15]}' ORDER BY Id LIMIT 7",  # a 15-character literal
    f"SELECT Id FROM Lead WHERE Lead.Id > '{A}' ORDER BY Lead.Id",
    f"SELECT Id FROM Lead WHERE Id > '{A}' AND Id >= '{B}' ORDER BY Id LIMIT 5",  # the tighter bound
    f"SELECT Id FROM Lead WHERE Id > '{A}' AND Id < '{B}' ORDER BY Id",
    f"SELECT Id FROM Lead WHERE Id > '{LAST}' ORDER BY Id LIMIT 10",  # past the end
    f"SELECT Id FROM Lead WHERE Id > '{make_id(KEY_PREFIXES['Lead'], 10**6)}' ORDER BY Id",  # no such id
    f"SELECT Id, Status FROM Lead WHERE (Status = 'Open') AND Id > '{A}' ORDER BY Id LIMIT 9",
    f"SELECT Id FROM Lead WHERE Status != 'Working' AND Id > '{A}' AND LastName LIKE 'L%' ORDER BY Id",
    f"SELECT Id FROM Lead WHERE SystemModstamp >= 2026-01-01T00:00:03Z AND Id > '{A}' ORDER BY Id LIMIT 8",
    "SELECT Id, SystemModstamp FROM Lead WHERE SystemModstamp = 2026-01-01T00:00:04Z ORDER BY Id",
    f"SELECT Id FROM Lead WHERE Id > '{A}' OR Status = 'Working' ORDER BY Id LIMIT 12",  # no bound (OR)
    f"SELECT Id FROM Lead WHERE NOT Id > '{A}' ORDER BY Id",
    f"SELECT Id FROM Lead WHERE Id > '{A}' ORDER BY Id LIMIT 5 OFFSET 3",
    f"SELECT Id FROM Lead WHERE Id > '{A}' ORDER BY Id DESC LIMIT 5",  # not the fast path
    f"SELECT Id FROM Lead WHERE Id > '{A}' LIMIT 6",  # no ORDER BY: Id order too
    "SELECT Id FROM Lead LIMIT 6",
    f"SELECT COUNT() FROM Lead WHERE Id > '{A}'",
    f"SELECT Id FROM Lead WHERE Id > '{A}' ORDER BY SystemModstamp, Id LIMIT 10",
    f"SELECT Id FROM Lead WHERE Id IN ('{A}', '{B}') AND Id > '{IDS[20]}' ORDER BY Id",
]


def _answer(text: str, include_deleted: bool, fast: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(Compiled, "use_id_index", fast)
    return run_query(ORG, text, "62.0", include_deleted, 200)


@pytest.mark.parametrize("include_deleted", [False, True], ids=["query", "queryAll"])
@pytest.mark.parametrize("text", QUERIES)
def test_the_id_index_answers_what_a_full_scan_answers(
    text: str, include_deleted: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = _answer(text, include_deleted, True, monkeypatch)
    slow = _answer(text, include_deleted, False, monkeypatch)
    assert fast == slow


def test_the_compared_answers_hold_deleted_rows_for_query_all_only(monkeypatch: pytest.MonkeyPatch) -> None:
    text = f"SELECT Id FROM Lead WHERE Id > '{A}' AND Id < '{B}' ORDER BY Id"
    got = {f: [r["Id"] for r in _answer(text, f, True, monkeypatch)["records"]] for f in (False, True)}
    deleted = [i for i in IDS[11:35] if ORG.stores["Lead"].records[i]["IsDeleted"]]
    assert deleted and set(got[True]) - set(got[False]) == set(deleted)
    assert got[True] == IDS[11:35]


class _CountingRecords(dict[str, Record]):
    reads = 0

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        _CountingRecords.reads += 1
        return super().get(key, default)


def test_an_id_range_page_reads_only_up_to_its_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    org, ids = _org()
    store = org.stores["Lead"]
    monkeypatch.setattr(store, "records", _CountingRecords(store.records))
    text = f"SELECT Id FROM Lead WHERE Id > '{ids[40]}' ORDER BY Id LIMIT 3"
    got = [r["Id"] for r in run_query(org, text, "62.0", False, 200)["records"]]
    assert got == [i for i in ids[41:] if not store.records[i]["IsDeleted"]][:3]
    assert _CountingRecords.reads <= 6  # 3 rows plus the deleted ones skipped on the way, not 70


def test_ids_are_kept_in_order_and_once() -> None:
    org, ids = _org()
    assert org.stores["Lead"].ids == sorted(ids) == ids
