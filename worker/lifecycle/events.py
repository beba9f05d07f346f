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
