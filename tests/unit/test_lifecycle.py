"""Fact events fire once, in a fixed order, compared with what the base had seen."""

from __future__ import annotations

from worker.lifecycle import fact_events
from worker.records import EMPTY_DIGEST, Facts, Opportunity


def test_a_new_opportunity_won_in_one_round_is_created_then_won() -> None:
    facts = Facts(opportunities=(Opportunity("006A", is_closed=True, is_won=True),))
    assert fact_events(facts, EMPTY_DIGEST, converted=False) == ["opportunity_created", "opportunity_won"]


def test_events_already_seen_do_not_fire_again() -> None:
    facts = Facts(
        opportunities=(Opportunity("006A", is_closed=True, is_won=False),),
        completed_calls=frozenset({"00T1"}),
        meetings=frozenset({"00U1"}),
        account_churned=True,
        converted=True,
    )
    assert fact_events(facts, facts.digest(), converted=True) == []


def test_only_what_is_new_fires() -> None:
    seen = Facts(opportunities=(Opportunity("006A"),), completed_calls=frozenset({"00T1"})).digest()
    now = Facts(
        opportunities=(Opportunity("006A", is_closed=True), Opportunity("006B")),
        completed_calls=frozenset({"00T1"}),
        meetings=frozenset({"00U9"}),
    )
    assert fact_events(now, seen, converted=True) == [
        "lead_converted",
        "opportunity_created",
        "opportunity_lost",
        "meeting_booked",
    ]
