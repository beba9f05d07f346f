"""Links both ways, bases, dead letters and the audit stream against a real Redis."""

from __future__ import annotations

from typing import Any

import pytest

from worker.records import Base, FactsDigest
from worker.state.audit import AuditEntry, AuditLog
from worker.state.bases import BaseStore
from worker.state.deadletters import DeadLetter, DeadLetterStore, FailedWrite
from worker.state.links import LinkStore

pytestmark = pytest.mark.integration


def test_links_resolve_both_ways_and_a_record_never_joins_two_people(redis_client: Any) -> None:
    links = LinkStore(redis_client)
    assert links.link("sf:Lead:00Q1", "salesforce", "sf:Lead:00Q1") == "sf:Lead:00Q1"
    assert links.link("sf:Lead:00Q1", "hubspot", "hs:contacts:5") == "sf:Lead:00Q1"
    assert links.person_of(["hs:contacts:5", "sf:Lead:00Q1", "hs:contacts:6"]) == {
        "hs:contacts:5": "sf:Lead:00Q1",
        "sf:Lead:00Q1": "sf:Lead:00Q1",
    }
    person = links.person("sf:Lead:00Q1")
    assert person is not None and (person.salesforce, person.hubspot) == ("sf:Lead:00Q1", "hs:contacts:5")
    # another person met the same contact: the first link stands, the caller is told whose it is
    assert links.link("sf:Lead:00Q2", "hubspot", "hs:contacts:5") == "sf:Lead:00Q1"
    assert links.person("sf:Lead:00Q2") is None


def test_a_conversion_repoints_the_person_and_the_old_record_still_finds_it(redis_client: Any) -> None:
    links = LinkStore(redis_client)
    links.link("p", "salesforce", "sf:Lead:00Q1")
    links.link("p", "salesforce", "sf:Contact:0031")
    person = links.person("p")
    assert person is not None and person.salesforce == "sf:Contact:0031"
    assert links.person_of(["sf:Lead:00Q1"]) == {"sf:Lead:00Q1": "p"}


def test_a_base_round_trips_with_its_facts_memory(redis_client: Any) -> None:
    bases = BaseStore(redis_client)
    stored = Base(
        values={"stage": "sql", "status": None},
        salesforce_values={"stage": "Sales Qualified Lead"},
        hubspot_values={"stage": "salesqualifiedlead"},
        facts=FactsDigest(opportunities=(("006A", "open"),), meetings=frozenset({"00U1"})),
        salesforce_object="Lead",
        salesforce_id="00Q1",
        hubspot_id="5",
    )
    bases.put("p", stored, fence=1)
    assert bases.get_many(["p", "q"]) == {"p": stored}


def test_dead_letters_count_attempts_and_keep_the_crm_error(redis_client: Any) -> None:
    store = DeadLetterStore(redis_client)
    write = FailedWrite(
        "salesforce",
        "update",
        "Lead",
        "00Q1",
        {"Status": "Unqualified"},
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "Unqualified Reason is required",
        "rejected",
    )
    store.put(DeadLetter("p", "rejected", (write,), run_id="r1", run_kind="poll"))
    second = store.put(DeadLetter("p", "rejected", (write,), run_id="r2", run_kind="poll"))
    assert second.attempts == 2 and second.first_at_ms <= second.last_at_ms
    [got] = store.newest()
    assert got.writes[0].code == "FIELD_CUSTOM_VALIDATION_EXCEPTION" and got.run_id == "r2"
    assert store.clear("p") and store.count() == 0


def test_audit_entries_are_listed_by_run_and_person(redis_client: Any) -> None:
    audit = AuditLog(redis_client)
    entries = [
        AuditEntry(
            "r1", "poll", "p1", "hubspot", "contacts", "5", "lifecyclestage", "lead", "mql", "field|stage|x"
        ),
        AuditEntry("r1", "poll", "p2", "salesforce", "Lead", "00Q", "Status", None, "Working", "rule|r|y"),
        AuditEntry(
            "r2", "resync", "p1", "hubspot", "contacts", "5", "hs_lead_status", "", "OPEN", "field|s|z"
        ),
    ]
    audit.append(entries)
    assert [e.field for e in audit.entries(run="r1")] == ["lifecyclestage", "Status"]
    assert [e.run for e in audit.entries(person="p1")] == ["r1", "r2"]
    first = next(audit.entries())
    assert (first.before, first.after, first.run_kind) == ("lead", "mql", "poll") and first.at_ms > 0
    assert [e.field for e in audit.entries(page=1)] == ["lifecyclestage", "Status", "hs_lead_status"]
