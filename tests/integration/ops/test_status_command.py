"""``crmsync status``: the status document from Redis (no CRM call) as text and ``--json``: cursors
with their lag, the last poll, pauses, dirty-set depth and dead letters grouped by code."""

from __future__ import annotations

import pytest

from worker.state.deadletters import DeadLetter, FailedWrite
from worker.state.ops import PollLog
from worker.state.store import State

from .conftest import Crmsync

pytestmark = pytest.mark.integration


def test_status_shows_cursor_lag_last_poll_pauses_queues_and_dead_letters(
    crmsync: Crmsync, state: State
) -> None:
    state.cursors.put("salesforce", "Lead", {"modstamp": "2026-01-01T00:00:00+00:00", "record_id": ""})
    PollLog(state.redis).record("salesforce", {"crm": "salesforce", "seen": {"Lead": 3}, "marked": 3})
    state.pauses.pause("hubspot", "DAILY: budget used up", seconds=60)
    state.dirty("salesforce").add("Lead", ["00Q5g0000000001EAA"])
    rejected = FailedWrite(
        "hubspot", "update", "contacts", "1", {"lifecyclestage": "x"}, "INVALID_OPTION", "no x", "rejected"
    )
    for person in ("sf:Lead:00Q5g0000000001EAA", "sf:Lead:00Q5g0000000002EAA"):
        state.dead.put(DeadLetter(person, "rejected", (rejected,)))
    state.dead.put(
        DeadLetter("hs:contacts:7", "duplicate", detail="hs:contacts:7 already belongs to someone")
    )
    code, doc = crmsync.json("status")
    assert code == 0
    lead = doc["crms"]["salesforce"]["cursors"]["Lead"]
    assert lead["lag_s"] > 86_400 and doc["crms"]["salesforce"]["last_poll"]["marked"] == 3
    assert doc["crms"]["hubspot"]["paused"] == "DAILY: budget used up"
    assert doc["queues"]["dirty"]["salesforce:Lead"] == 1
    groups = {g["code"]: g["count"] for g in doc["dead_letters"]["by_code"]}
    assert groups == {"INVALID_OPTION": 2, "duplicate": 1}
    text = crmsync("status").stdout
    assert "hubspot: PAUSED (DAILY: budget used up)" in text
    assert "INVALID_OPTION: 2 (e.g." in text and "cursor Lead:" in text and "last poll" in text
