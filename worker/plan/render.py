"""The plan as stable JSON (for scripts; documented in the README) and as text (for people)."""

from __future__ import annotations

from typing import Any

from worker.mapping.compiled import CompiledMap
from worker.plan.model import Plan, Write
from worker.records import base_to_json

JSON_FORMAT_VERSION = 1


def _write_json(write: Write) -> dict[str, Any]:
    return {
        "op": write.op,
        "object": write.object_type,
        "id": write.record_id,
        "step": write.step,
        "fields": write.values(),
        "link_back": write.link_back,
        "changes": [
            {
                "field": c.field,
                "value": c.value,
                "cause": {"kind": c.cause.kind, "ref": c.cause.ref, "detail": c.cause.detail},
            }
            for c in write.changes
        ],
    }


def plan_to_json(plan: Plan, cmap: CompiledMap) -> dict[str, Any]:
    return {
        "format": JSON_FORMAT_VERSION,
        "map": cmap.name,
        "writes": {
            "salesforce": [_write_json(w) for w in plan.salesforce],
            "hubspot": [_write_json(w) for w in plan.hubspot],
        },
        "skipped": [{"kind": s.kind, "ref": s.ref, "side": s.side, "detail": s.detail} for s in plan.skipped],
        "conflicts": [
            {
                "field": c.field,
                "salesforce": c.salesforce,
                "hubspot": c.hubspot,
                "winner": c.winner,
                "policy": c.policy,
            }
            for c in plan.conflicts
        ],
        "events": list(plan.events),
        "rules_applied": list(plan.rules_applied),
        "values": dict(plan.values),
        "stage_path": list(plan.stage_path),
        "new_base": base_to_json(plan.new_base),
    }


def plan_to_text(plan: Plan, cmap: CompiledMap) -> str:
    lines: list[str] = [f"Plan (map: {cmap.name})"]
    stage = plan.values.get("stage")
    status = plan.values.get("status")
    stage_label = cmap.stages[stage].label if stage is not None and stage in cmap.stages else stage
    status_label = cmap.statuses[status].label if status is not None and status in cmap.statuses else status
    lines.append(f"  result: stage {stage_label}, status {status_label}")
    if plan.events:
        lines.append(f"  events: {', '.join(plan.events)}")
    if plan.rules_applied:
        lines.append(f"  rules applied: {', '.join(plan.rules_applied)}")
    if not plan.has_writes:
        lines.append("  no writes: both sides already agree")
    for write in plan.writes:
        target = f"{write.object_type} {write.record_id}" if write.record_id else f"new {write.object_type}"
        lines.append(f"  {write.side} {write.op} {target} (step {write.step}):")
        for change in write.changes:
            cause = change.cause
            lines.append(
                f"    {change.field} = {change.value!r}  <- {cause.kind} {cause.ref}: {cause.detail}"
            )
    for conflict in plan.conflicts:
        lines.append(
            f"  conflict on {conflict.field}: Salesforce {conflict.salesforce!r}"
            f" vs HubSpot {conflict.hubspot!r} -> {conflict.winner} ({conflict.policy})"
        )
    for s in plan.skipped:
        side = f" [{s.side}]" if s.side else ""
        lines.append(f"  skipped {s.kind}{side} {s.ref}: {s.detail}")
    return "\n".join(lines)
