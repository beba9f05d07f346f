"""The planner: given both records, the base and the facts, what to write where and why."""

from __future__ import annotations

from worker.plan.apply import apply_plan
from worker.plan.engine import newly_seen, plan
from worker.plan.model import Cause, Conflict, FieldChange, Plan, Skip, Write

__all__ = ["Cause", "Conflict", "FieldChange", "Plan", "Skip", "Write", "apply_plan", "newly_seen", "plan"]
