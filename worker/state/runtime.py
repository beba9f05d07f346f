"""Redis state of the runtime itself: change cursors, CRM pauses, task attempt counters, sync slots and
run locks. The sync's own stores (dirty set, bases, person locks, dead letters, audit) live beside this.

Key schema (prefix ``crmsync`` by default):
- ``{p}:cursor:{name}`` — a change reader's position (text it encodes itself), written only after the
  ids it covers are in the dirty set;
- ``{p}:pause:{crm}`` — present while that CRM's work is paused (quota); its value says why, its TTL
  is the pause: work resumes by itself when the key expires, nothing polls in between;
- ``{p}:attempts:{task_id}`` — deliveries of one task (redeliveries after a killed worker included);
- ``{p}:slot:{queue}:{n}`` — a sync task is queued or running for slot n (bounds what sits on the broker);
- ``{p}:runlock:{name}`` — held by the one poll of a CRM that is running (a token, released only by it).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _text(raw: Any) -> str | None:
    if raw is None:
        return None
    return raw.decode() if isinstance(raw, bytes) else str(raw)


class Cursors:
    """Named change-reader positions. Read once per poll; saved after every page that was queued."""

    def __init__(self, redis: Any, prefix: str = "crmsync") -> None:
        self.redis = redis
        self.prefix = prefix

    def _key(self, name: str) -> str:
        return f"{self.prefix}:cursor:{name}"

    def get(self, name: str) -> str | None:
        return _text(self.redis.get(self._key(name)))

    def set(self, name: str, value: str) -> None:
        self.redis.set(self._key(name), value)

    def all(self) -> dict[str, str]:
        out: dict[str, str] = {}
        head = len(self._key(""))
        for key in self.redis.scan_iter(match=self._key("*"), count=500):
            value = _text(self.redis.get(key))
            if value is not None:
                out[str(_text(key))[head:]] = value
        return out


class Pauses:
    """A CRM's work paused until its quota returns: one key with a TTL, so resuming needs no task."""

    def __init__(self, redis: Any, prefix: str = "crmsync") -> None:
        self.redis = redis
        self.prefix = prefix

    def _key(self, crm: str) -> str:
        return f"{self.prefix}:pause:{crm}"

    def pause(self, crm: str, seconds: float, reason: str) -> None:
        self.redis.set(self._key(crm), reason, px=max(1, int(seconds * 1000)))

    def reason(self, crm: str) -> str | None:
        """Why ``crm`` is paused, or None when it is not."""
        return _text(self.redis.get(self._key(crm)))

    def remaining(self, crm: str) -> float:
        ms = int(self.redis.pttl(self._key(crm)))
        return max(0.0, ms / 1000)

    def resume(self, crm: str) -> None:
        self.redis.delete(self._key(crm))


class TaskAttempts:
    """Counts deliveries per task id: brokers do not count redeliveries (a task whose worker is killed
    comes back with ``task_reject_on_worker_lost`` for ever), so the task counts them itself."""

    def __init__(self, redis: Any, prefix: str = "crmsync", ttl_s: int = 86_400) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl_s = ttl_s

    def _key(self, task_id: str) -> str:
        return f"{self.prefix}:attempts:{task_id}"

    def begin(self, task_id: str) -> int:
        """Record one more delivery; returns the attempt number (1 for the first)."""
        pipe = self.redis.pipeline()
        pipe.incr(self._key(task_id))
        pipe.expire(self._key(task_id), self.ttl_s)
        count, _ = pipe.execute()
        return int(count)

    def done(self, task_id: str) -> None:
        self.redis.delete(self._key(task_id))


class Slots:
    """At most ``size`` sync tasks queued or running: a dispatcher claims a free slot before it sends a
    task, the task frees it when it ends. A slot whose task vanished frees itself after ``ttl_s``."""

    def __init__(self, redis: Any, name: str, size: int, ttl_s: float, prefix: str = "crmsync") -> None:
        self.redis = redis
        self.size = size
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.base = f"{prefix}:slot:{name}"

    def claim(self) -> int | None:
        for n in range(self.size):
            if self.redis.set(f"{self.base}:{n}", "1", nx=True, px=self.ttl_ms):
                return n
        return None

    def free(self, n: int) -> None:
        self.redis.delete(f"{self.base}:{n}")

    def busy(self) -> int:
        return sum(1 for n in range(self.size) if self.redis.exists(f"{self.base}:{n}"))


class RunLock:
    """A lock held by one run (SET NX PX + a token; released only by its holder), so a poll that is still
    running when the next one is due makes the next one a no-op instead of a second concurrent reader."""

    def __init__(self, redis: Any, prefix: str = "crmsync") -> None:
        self.redis = redis
        self.prefix = prefix
        self._release = redis.register_script(_RELEASE)

    @contextmanager
    def hold(self, name: str, ttl_s: float) -> Iterator[bool]:
        key = f"{self.prefix}:runlock:{name}"
        token = uuid.uuid4().hex
        acquired = bool(self.redis.set(key, token, nx=True, px=max(1, int(ttl_s * 1000))))
        try:
            yield acquired
        finally:
            if acquired:
                self._release(keys=[key], args=[token])
