"""The automation framework's vocabulary: which events happened, and whether a rule's conditions hold.

Both are pure functions of the records' facts, the base snapshot and the current stage/status; the
planner (``worker.plan.engine``) decides the order rules run in and what their effects may change.
"""

from __future__ import annotations

from worker.lifecycle.conditions import condition_holds
from worker.lifecycle.events import FACT_EVENT_ORDER, fact_events, state_events

__all__ = ["FACT_EVENT_ORDER", "condition_holds", "fact_events", "state_events"]
