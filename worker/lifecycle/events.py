"""Fact events: what happened around a person since the last sync, each reported once."""

from __future__ import annotations

from worker.records import Facts, FactsDigest

# The order fact events run in: a lead converts, then its opportunities appear and close, then the
# activity that followed, then churn. Opportunity created-and-won in one round ends at won.
FACT_EVENT_ORDER = (
    "lead_converted",
    "opportunity_created",
    "opportunity_won",
    "opportunity_lost",
    "call_completed",
    "meeting_booked",
    "account_churned",
)


def fact_events(facts: Facts, seen: FactsDigest, *, converted: bool) -> list[str]:
    """The events ``facts`` show that the base's digest ``seen`` had not, in ``FACT_EVENT_ORDER``."""
    before = dict(seen.opportunities)
    fired: set[str] = set()
    for opp in facts.opportunities:
        was = before.get(opp.id)
        if was is None:
            fired.add("opportunity_created")
        state = opp.state
        if state != was and state == "won":
            fired.add("opportunity_won")
        elif state != was and state == "lost":
            fired.add("opportunity_lost")
    if (converted or facts.converted) and not seen.converted:
        fired.add("lead_converted")
    if facts.completed_calls - seen.completed_calls:
        fired.add("call_completed")
    if facts.meetings - seen.meetings:
        fired.add("meeting_booked")
    if facts.account_churned and not seen.account_churned:
        fired.add("account_churned")
    return [name for name in FACT_EVENT_ORDER if name in fired]


def state_events(facts: Facts, *, converted: bool) -> list[str]:
    """The events that facts found on first sight stand for, read as state rather than news.

    A person met for the first time has a history nobody synced: an open opportunity means they are
    in one now, a won one that they are a customer, a conversion that they were converted, a churned
    account that its customers churned. A lost opportunity, a call or a meeting is only history (a
    two-year-old lost deal says nothing about a re-engaged MQL), so they are remembered, not fired.
    """
    fired: set[str] = set()
    for opp in facts.opportunities:
        state = opp.state
        if state == "open":
            fired.add("opportunity_created")
        elif state == "won":
            fired.add("opportunity_won")
    if converted or facts.converted:
        fired.add("lead_converted")
    if facts.account_churned:
        fired.add("account_churned")
    return [name for name in FACT_EVENT_ORDER if name in fired]
