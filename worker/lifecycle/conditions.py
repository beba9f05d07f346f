"""A rule's ``if``: every given clause must hold (AND), evaluated on the state when the rule fires."""

from __future__ import annotations

from worker.mapping.compiled import CompiledMap, Condition
from worker.records import Facts


def condition_holds(
    c: Condition | None,
    *,
    stage: str | None,
    status: str | None,
    facts: Facts,
    salesforce_object: str | None,
    cmap: CompiledMap,
) -> bool:
    if c is None:
        return True
    if c.stage_in is not None and stage not in c.stage_in:
        return False
    if c.stage_not_in is not None and stage in c.stage_not_in:
        return False
    if (
        c.stage_before_rank is not None
        and stage is not None
        and cmap.stages[stage].rank >= c.stage_before_rank
    ):
        return False
    if c.status_in is not None and status not in c.status_in:
        return False
    if c.status_not_in is not None and status in c.status_not_in:
        return False
    if c.no_open_opportunities is not None:
        has_open = any(not o.is_closed for o in facts.opportunities)
        if c.no_open_opportunities == has_open:
            return False
    return not (
        c.salesforce_object is not None
        and salesforce_object is not None
        and salesforce_object != c.salesforce_object
    )
