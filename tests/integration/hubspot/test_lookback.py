"""The change reader's lookback at default settings: bounded by the previous poll, shared across processes."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.hubspot.models import SYSTEM
from sandbox.hubspot.server import HubSpotSandbox
from worker.crm.hubspot import Cursor, HubSpotAdapter
from worker.state.delivered import RedisDelivered

from .conftest import make_settings

pytestmark = pytest.mark.integration

BURST = 1_000  # contacts changed 45..35 s before the first poll


def defaults(sandbox: HubSpotSandbox, **kw: Any) -> HubSpotAdapter:
    """An adapter at the default margin (30 s) and lookback (60 s), on the sandbox's clock."""
    settings = make_settings(sandbox, index_lag_margin_s=30.0, lookback_s=60.0)
    return HubSpotAdapter(settings, clock=lambda: sandbox.portal.clock.now_ms() / 1000, **kw)


def burst(sandbox: HubSpotSandbox) -> None:
    store = sandbox.portal.stores["contacts"]
    t = sandbox.portal.clock.now_ms() - 45_000
    with sandbox.backend.lock:
        for i in range(BURST):
            store._insert({"email": f"b{i}@x.test"}, SYSTEM, created_ms=t + i * 10)


def poll(adapter: HubSpotAdapter, cursor: Cursor | None) -> tuple[int, Cursor | None, int]:
    before = adapter.transport.stats.searches
    n = 0
    for page in adapter.changes_since(cursor):
        n += len(page.records)
        cursor = page.cursor
    return n, cursor, adapter.transport.stats.searches - before


@pytest.mark.usefixtures("exact_index")
def test_the_lookback_reaches_back_only_from_the_previous_poll(
    sandbox: HubSpotSandbox,
) -> None:
    burst(sandbox)
    adapter = defaults(sandbox)
    n, cursor, searches = poll(adapter, None)
    assert n == BURST and searches == BURST // 200 + 1
    assert cursor is not None and cursor.window_end_ms is not None
    # 61 s later: the burst was younger than the tolerated lag (60 s) when poll 1 ran, so a sibling of
    # it may have been invisible then; this poll re-reads it once
    sandbox.advance_clock(61_000)
    n, cursor, searches = poll(adapter, cursor)
    assert n == 0 and searches == BURST // 200 + 1
    # poll 2 ran when every burst change was older than the lag: nothing left that could surface late
    sandbox.advance_clock(10_000)
    n, cursor, searches = poll(adapter, cursor)
    assert n == 0 and searches == 1
    # an old-format cursor (no window end) looks back a minute before the cursor whatever the polls did
    assert cursor is not None
    n, _, searches = poll(adapter, Cursor(cursor.modified_ms, cursor.object_id))
    assert n == 0 and searches == BURST // 200 + 1


@pytest.mark.usefixtures("exact_index")
def test_a_new_process_sharing_the_delivered_memory_does_not_re_deliver(
    sandbox: HubSpotSandbox, redis_client: Any
) -> None:
    burst(sandbox)
    memory = RedisDelivered(redis_client, "portal-1:contacts")
    first = defaults(sandbox, delivered=memory)
    n, cursor, _ = poll(first, None)
    saved = cursor
    assert n == BURST and memory.size() == BURST
    restarted = defaults(sandbox, delivered=RedisDelivered(redis_client, "portal-1:contacts"))
    assert poll(restarted, cursor)[0] == 0
    # once no later poll can ask about them, the keys are trimmed (all but the cursor's own)
    sandbox.advance_clock(61_000)
    (
        _,
        cursor,
        _,
    ) = poll(restarted, cursor)
    sandbox.advance_clock(10_000)
    poll(restarted, cursor)
    assert memory.size() == 1
    alone = defaults(sandbox)  # an in-process memory starts empty: the zone comes again
    assert poll(alone, saved)[0] == BURST - 1  # all but the cursor's own record


@pytest.mark.usefixtures("exact_index")
def test_a_late_record_inside_the_bounded_lookback_is_still_caught(sandbox: HubSpotSandbox, hs: Any) -> None:
    adapter = defaults(sandbox)
    store = sandbox.portal.stores["contacts"]
    now = sandbox.portal.clock.now_ms()
    with sandbox.backend.lock:
        store._insert({"email": "early@x.test"}, SYSTEM, created_ms=now - 40_000)
    _, cursor, _ = poll(adapter, None)
    # a change from before the cursor that the index surfaces only now (lag above the 30 s margin)
    with sandbox.backend.lock:
        late = store._insert({"email": "late@x.test"}, SYSTEM, created_ms=now - 50_000).id
    sandbox.advance_clock(5_000)
    got = [r["id"] for page in adapter.changes_since(cursor) for r in page.records]
    assert got == [str(late)]
