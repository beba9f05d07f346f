"""Writing received change signals into the dirty sets, a bounded number of events per Redis call.

One ``DirtySet.record`` call is one Lua script, and Redis runs nothing else while a script runs: a
request with 100,000 events as one call blocked Redis for up to 1.9 s (issue 12, item 7). Receivers
cap events per request and write them ``chunk`` events per call, each call in the thread pool so the
event loop keeps serving. If Redis fails part-way, the answer is 503 and the sender retries: events
already recorded are skipped by their markers, so the retry records only the rest.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import redis
from starlette.concurrency import run_in_threadpool

from worker.errors import CrmSyncError
from worker.state.dirty import DirtySet, Event


class RedisUnavailableError(CrmSyncError):
    """The dirty set could not be written; the sender should retry (answered 503)."""


async def record_chunked(dirty: DirtySet, events: Sequence[Event], chunk: int) -> int:
    """Record ``events`` ``chunk`` at a time; returns how many changes were new."""
    added = 0
    try:
        for start in range(0, len(events), chunk):
            added += await run_in_threadpool(dirty.record, events[start : start + chunk])
    except (redis.ConnectionError, redis.TimeoutError):
        raise RedisUnavailableError("change store (Redis) unavailable; retry later") from None
    return added


def decode_json(body: bytes) -> Any:
    """Strict UTF-8 JSON; every way it can fail (bad bytes, bad JSON, nesting deep enough to exhaust
    the parser's recursion) is a ``ValueError`` with a message fit for a 400."""
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError("body is not UTF-8") from None
    except RecursionError:
        raise ValueError("body is nested too deeply") from None
    except ValueError as exc:
        raise ValueError(f"body is not JSON: {exc}") from None
