"""Salesforce rows (and, optionally, HubSpot deals) → the planner's ``Facts``.

The service reads each person's Lead/Contact with the fact columns of ``queries.facts_columns`` in the
same query (parent fields and child subqueries cost no extra call): a lead's conversion and converted
opportunity, a contact's account type and opportunities through contact roles, completed calls
(Tasks of type Call) and meetings (Events).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from worker.records import EMPTY_FACTS, Facts, Opportunity

CUSTOMER_ACCOUNT_TYPES = frozenset({"Customer", "Customer - Direct", "Customer - Channel"})
CHURNED_ACCOUNT_TYPES = frozenset({"Former Customer", "Churned Customer"})


def _children(row: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    sub = row.get(name)
    if not isinstance(sub, Mapping):
        return []
    return [r for r in sub.get("records") or [] if isinstance(r, Mapping)]


def _opportunity(opp_id: Any, fields: Mapping[str, Any] | None) -> Opportunity | None:
    if not isinstance(opp_id, str) or not opp_id or not isinstance(fields, Mapping):
        return None
    return Opportunity(
        id=opp_id,
        stage_name=str(fields.get("StageName") or ""),
        is_closed=fields.get("IsClosed") is True,
        is_won=fields.get("IsWon") is True,
    )


def salesforce_facts(
    row: Mapping[str, Any],
    *,
    new_record: bool | None = None,
    customer_types: Iterable[str] = CUSTOMER_ACCOUNT_TYPES,
    churned_types: Iterable[str] = CHURNED_ACCOUNT_TYPES,
) -> Facts:
    opportunities: dict[str, Opportunity] = {}
    account: Any
    if row.get("attributes", {}).get("type") == "Contact" or "AccountId" in row:
        account = row.get("Account")
        for role in _children(row, "OpportunityContactRoles"):
            opp = _opportunity(role.get("OpportunityId"), role.get("Opportunity"))
            if opp is not None:
                opportunities[opp.id] = opp
    else:
        account = row.get("ConvertedAccount")
        opp = _opportunity(row.get("ConvertedOpportunityId"), row.get("ConvertedOpportunity"))
        if opp is not None:
            opportunities[opp.id] = opp
    account_type = str(account.get("Type") or "") if isinstance(account, Mapping) else ""
    facts = Facts(
        opportunities=tuple(sorted(opportunities.values(), key=lambda o: o.id)),
        account_is_customer=account_type in set(customer_types),
        account_churned=account_type in set(churned_types),
        completed_calls=frozenset(str(t["Id"]) for t in _children(row, "Tasks") if t.get("Id")),
        meetings=frozenset(str(e["Id"]) for e in _children(row, "Events") if e.get("Id")),
        converted=row.get("IsConverted") is True,
        new_record=new_record,
    )
    return EMPTY_FACTS if facts == EMPTY_FACTS else facts


def hubspot_deal(deal: Mapping[str, Any], won: Iterable[str], lost: Iterable[str]) -> Opportunity:
    """A HubSpot deal as an opportunity, its state from ``dealstage`` (ids prefixed ``hs-deal:`` so they
    never collide with Salesforce opportunity ids in the facts memory)."""
    stage = str((deal.get("properties") or {}).get("dealstage") or "")
    is_won = stage in set(won)
    return Opportunity(f"hs-deal:{deal['id']}", stage, is_won or stage in set(lost), is_won)


def with_deals(facts: Facts | None, deals: Iterable[Opportunity]) -> Facts | None:
    extra = tuple(deals)
    if not extra:
        return facts
    base = facts if facts is not None else Facts()
    merged = {o.id: o for o in (*base.opportunities, *extra)}
    return replace(base, opportunities=tuple(sorted(merged.values(), key=lambda o: o.id)))
