"""One status document for ``crmsync status``, ``GET /admin/status``, the admin page and ``/metrics``:
per CRM its cursors and their lag, pause, last poll and API budget; queue depths (dirty sets, leases,
broker queues); dead letters grouped by error code with a sample; backfills that are running."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from worker.celery_app import QUEUES
from worker.drain import DIRTY_TYPES
from worker.errors import ConfigError
from worker.settings import Settings
from worker.state.deadletters import DeadLetter
from worker.state.ops import OpsReads, PollLog, broker_depths
from worker.state.store import State

CRMS = ("salesforce", "hubspot")
SAMPLE_PER_CODE = 1


def cursor_position_ms(crm: str, doc: dict[str, Any]) -> int | None:
    """Where a change reader stands, as epoch ms (``None``: not a time cursor)."""
    try:
        if crm == "hubspot" and "cursor" in doc:
            from worker.crm.hubspot.cursor import Cursor

            return Cursor.decode(str(doc["cursor"])).modified_ms
        text = doc.get("modstamp") or doc.get("latest_covered")
        if text:
            return int(datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp() * 1000)
    except (ValueError, TypeError):
        return None
    return None


def letter_code(letter: DeadLetter) -> str:
    """What groups a dead letter: the CRM's error code of its first rejected write, else its reason."""
    return next((w.code for w in letter.writes if w.code), None) or letter.reason


def dead_letter_groups(state: State, limit: int = 10_000) -> list[dict[str, Any]]:
    letters = state.dead.newest(limit=limit)
    counts = Counter(letter_code(d) for d in letters)
    groups = []
    for code, n in counts.most_common():
        sample = next(d for d in letters if letter_code(d) == code)
        message = next((w.message for w in sample.writes if w.code == code), sample.detail)
        groups.append(
            {
                "code": code,
                "count": n,
                "sample": {
                    "person": sample.person,
                    "record_keys": list(sample.record_keys),
                    "message": message[:300],
                    "run": sample.run_id,
                    "at": sample.last_at_ms,
                },
            }
        )
    return groups


def build_status(settings: Settings, state: State, broker: Any | None = None) -> dict[str, Any]:
    now_ms = int(time.time() * 1000)
    reads = OpsReads(state.redis)
    polls = PollLog(state.redis)
    cursors = reads.cursors()
    crms: dict[str, Any] = {}
    for crm in CRMS:
        docs = cursors.get(crm, {})
        positions = {name: cursor_position_ms(crm, doc) for name, doc in sorted(docs.items())}
        crms[crm] = {
            "enabled": getattr(settings, f"{crm}_enabled"),
            "paused": state.pauses.paused(crm),
            "resumes_in_s": round(state.pauses.remaining_s(crm), 1) if state.pauses.paused(crm) else None,
            "cursors": {
                name: {"position_ms": at, "lag_s": round((now_ms - at) / 1000, 1) if at is not None else None}
                for name, at in positions.items()
            },
            "last_poll": polls.last(crm),
        }
    crms["salesforce"]["budget"] = _salesforce_budget(settings, reads)
    crms["hubspot"]["budget"] = _hubspot_budget(settings, reads)
    dirty = {f"{crm}:{obj}": state.dirty(crm).size(obj) for crm, obj in DIRTY_TYPES}
    leased = {f"{crm}:{obj}": len(state.dirty(crm).leased(obj)) for crm, obj in DIRTY_TYPES}
    from worker.ops.backfill import BackfillStore

    return {
        "generated_at_ms": now_ms,
        "settings": settings.describe(),
        "crms": crms,
        "queues": {
            "dirty": dirty,
            "leased": leased,
            "broker": broker_depths(broker, QUEUES) if broker is not None else None,
        },
        "dead_letters": {"total": state.dead.count(), "by_code": dead_letter_groups(state)},
        "audit_entries": state.audit.length(),
        "backfills": [b.to_json() for b in BackfillStore(state.redis).running()],
    }


def _salesforce_budget(settings: Settings, reads: OpsReads) -> dict[str, Any] | None:
    readings = reads.salesforce_usage()
    if not readings:
        return None
    org, (used, total, observed) = max(readings.items(), key=lambda kv: kv[1][2])
    try:
        share = settings.salesforce_settings.max_api_share
    except ConfigError:
        share = 1.0
    allowed = int(total * share)
    return {
        "org": org,
        "daily_used": used,
        "daily_total": total,
        "share": share,
        "share_left": max(0, allowed - used),
        "observed_at_ms": int(observed * 1000),
    }


def _hubspot_budget(settings: Settings, reads: OpsReads) -> dict[str, Any] | None:
    try:
        budget = settings.hubspot_settings.rate_budget()
    except ConfigError:
        return None
    from worker.state.ratelimit import RedisRateLimiter

    used_today = RedisRateLimiter(reads.redis, "hubspot", budget).used_today()
    window = reads.hubspot_window("hubspot")
    return {
        "ten_second_used": window,
        "ten_second_budget": budget.per_ten_seconds,
        "ten_second_left": max(0, budget.per_ten_seconds - window),
        "daily_used": used_today,
        "daily_budget": budget.daily,
        "daily_left": max(0, budget.daily - used_today),
    }


def status_text(doc: dict[str, Any]) -> list[str]:
    """The document as lines for a terminal."""
    lines = [f"status at {datetime.fromtimestamp(doc['generated_at_ms'] / 1000, UTC):%Y-%m-%d %H:%M:%S} UTC"]
    for crm, c in doc["crms"].items():
        state = "off" if not c["enabled"] else (f"PAUSED ({c['paused']})" if c["paused"] else "running")
        lines.append(f"\n{crm}: {state}")
        for name, cur in c["cursors"].items():
            lag = f"{cur['lag_s']:.0f}s behind" if cur["lag_s"] is not None else "no position"
            lines.append(f"  cursor {name}: {lag}")
        poll = c["last_poll"]
        if poll:
            ago = (doc["generated_at_ms"] - poll["at"]) / 1000
            lines.append(f"  last poll {ago:.0f}s ago: seen {poll.get('seen')}, marked {poll.get('marked')}")
        else:
            lines.append("  last poll: none recorded")
        b = c.get("budget")
        if b and crm == "salesforce":
            lines.append(
                f"  API: {b['daily_used']}/{b['daily_total']} today, {b['share_left']} left of a "
                f"{b['share']:.0%} share"
            )
        elif b:
            lines.append(
                f"  API: {b['ten_second_used']}/{b['ten_second_budget']} in 10 s, "
                f"{b['daily_used']}/{b['daily_budget']} today ({b['daily_left']} left)"
            )
    q = doc["queues"]
    lines.append("\nqueues: " + ", ".join(f"dirty {k} {v}" for k, v in q["dirty"].items()))
    lines.append("        " + ", ".join(f"leased {k} {v}" for k, v in q["leased"].items()))
    if q["broker"] is not None:
        lines.append("        " + ", ".join(f"broker {k} {v}" for k, v in q["broker"].items()))
    dead = doc["dead_letters"]
    lines.append(f"\ndead letters: {dead['total']}")
    for g in dead["by_code"]:
        lines.append(f"  {g['code']}: {g['count']} (e.g. {g['sample']['person']}: {g['sample']['message']})")
    lines.append(f"\nbackfills running: {len(doc['backfills'])}")
    for b in doc["backfills"]:
        lines.append(f"  {b['id']}: {b['done']}/{b['total']} ({b['state']})")
    return lines
