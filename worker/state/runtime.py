"""Redis state of the runtime's own machinery (keys in ``worker.state.keys``): task attempt counters,
sync slots and run locks. Cursors and pauses are ``cursors.py`` and ``pauses.py``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from worker.state import keys

_ACQUIRE = """
local held = redis.call('GET', KEYS[1])
if held and held ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class TaskAttempts:
    """Counts deliveries per task id: brokers do not count redeliveries (a task whose worker is killed
    comes back with ``task_reject_on_worker_lost`` for ever), so the task counts them itself."""

    def __init__(self, redis: Any, ttl_s: int = 86_400) -> None:
        self.redis = redis
        self.ttl_s = ttl_s

    def begin(self, task_id: str) -> int:
        """Record one more delivery; returns the attempt number (1 for the first)."""
        pipe = self.redis.pipeline()
        pipe.incr(keys.attempts(task_id))
        pipe.expire(keys.attempts(task_id), self.ttl_s)
        count, _ = pipe.execute()
        return int(count)

    def done(self, task_id: str) -> None:
        self.redis.delete(keys.attempts(task_id))

    def begin_many(self, names: list[str]) -> dict[str, int]:
        """``begin`` for many names in one round trip."""
        pipe = self.redis.pipeline()
        for name in names:
            pipe.incr(keys.attempts(name))
            pipe.expire(keys.attempts(name), self.ttl_s)
        counts = pipe.execute()[::2]
        return {name: int(c) for name, c in zip(names, counts, strict=True)}

    def undo_many(self, names: list[str]) -> None:
        """Take back one attempt each (the work was not tried: busy, paused)."""
        if names:
            pipe = self.redis.pipeline()
            for name in names:
                pipe.decr(keys.attempts(name))
            pipe.execute()

    def done_many(self, names: list[str]) -> None:
        if names:
            self.redis.delete(*[keys.attempts(n) for n in names])


class Slots:
    """At most ``size`` sync tasks queued or running: a dispatcher claims a free slot before it sends a
    task, the task frees it when it ends. A slot whose task vanished frees itself after ``ttl_s``."""

    def __init__(self, redis: Any, queue: str, size: int, ttl_s: float) -> None:
        self.redis = redis
        self.queue = queue
        self.size = size
        self.ttl_ms = max(1, int(ttl_s * 1000))

    def claim(self) -> int | None:
        for n in range(self.size):
            if self.redis.set(keys.slot(self.queue, n), "1", nx=True, px=self.ttl_ms):
                return n
        return None

    def free(self, n: int) -> None:
        self.redis.delete(keys.slot(self.queue, n))

    def busy(self) -> int:
        return sum(1 for n in range(self.size) if self.redis.exists(keys.slot(self.queue, n)))


class RunLock:
    """A lock held by one run (SET NX PX + a token; released only by its holder), so a poll that is still
    running when the next one is due makes the next one a no-op instead of a second concurrent reader.

    The token is the task id: the same task delivered again after its worker was killed takes its own
    lock back at once instead of waiting for the expiry."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self._release = redis.register_script(_RELEASE)
        self._acquire = redis.register_script(_ACQUIRE)

    @contextmanager
    def hold(self, name: str, ttl_s: float, token: str | None = None) -> Iterator[bool]:
        key = keys.runlock(name)
        token = token or uuid.uuid4().hex
        acquired = bool(self._acquire(keys=[key], args=[token, max(1, int(ttl_s * 1000))]))
        try:
            yield acquired
        finally:
            if acquired:
                self._release(keys=[key], args=[token])


class SeenChanges:
    """Which versions of which records a poll has already queued (``"{modified ms}:{id}"`` members of one
    sorted set per reader, scored by the modified time). A poll re-reads a lookback window for late
    commits; without this memory every record changed in the window would be synced again on every poll.
    Members older than the window are trimmed on each write; the key expires a day after the last one."""

    def __init__(self, redis: Any, crm: str, name: str, ttl_s: int = 86_400) -> None:
        self.redis = redis
        self.key = keys.delivered(crm, name)
        self.ttl_s = ttl_s

    def unseen(self, members: list[tuple[int, str]]) -> list[tuple[int, str]]:
        if not members:
            return []
        scores = self.redis.zmscore(self.key, [f"{ms}:{rid}" for ms, rid in members])
        return [m for m, score in zip(members, scores, strict=True) if score is None]

    def remember(self, members: list[tuple[int, str]], *, forget_before_ms: int) -> None:
        pipe = self.redis.pipeline(transaction=False)
        if members:
            pipe.zadd(self.key, {f"{ms}:{rid}": ms for ms, rid in members})
        pipe.zremrangebyscore(self.key, "-inf", f"({forget_before_ms}")
        pipe.expire(self.key, self.ttl_s)
        pipe.execute()
