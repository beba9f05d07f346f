"""Per-person locks with expiry and fencing tokens: two workers never write one person at once.

A lock is ``SET crmsync:lock:{name} <token> NX PX <ttl>``; the token comes from ``INCR
crmsync:fence:{name}``, so every acquisition gets a larger number than the one before. The expiry frees
a lock whose holder died; the fencing token is what makes that safe: a holder that stalled past its
expiry and wakes up still holds its old token, and stores that take the token (``BaseStore.put``)
refuse a write older than the newest they have seen. Release and extend only act while the key still
holds the caller's own token (compare-and-delete in one script).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from worker.errors import CrmSyncError
from worker.state import keys

# KEYS[1] lock, KEYS[2] fence counter; ARGV[1] ttl ms → token, or nil when held by someone else
_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token, 'PX', ARGV[1])
return token
"""
# KEYS[1] lock; ARGV[1] token → 1 when released
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# KEYS[1] lock; ARGV[1] token, ARGV[2] ttl ms → 1 when extended
_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class LockBusyError(CrmSyncError):
    """Another worker holds the lock; try the person again later."""


class StaleFenceError(CrmSyncError):
    """A write carried a fencing token older than one already seen: its lock had expired."""


@dataclass(frozen=True)
class Lease:
    name: str
    token: int
    expires_at: float  # time.time() of expiry as seen by the holder


class Locks:
    def __init__(self, redis: Any, *, ttl_s: float = 120.0) -> None:
        self.redis = redis
        self.ttl_s = ttl_s
        self._acquire = redis.register_script(_ACQUIRE)
        self._release = redis.register_script(_RELEASE)
        self._extend = redis.register_script(_EXTEND)

    def try_acquire(self, name: str, *, ttl_s: float | None = None) -> Lease | None:
        ttl = ttl_s if ttl_s is not None else self.ttl_s
        token = self._acquire(keys=[keys.lock(name), keys.fence(name)], args=[int(ttl * 1000)])
        if token is None:
            return None
        return Lease(name, int(token), time.time() + ttl)

    def acquire(self, name: str, *, wait_s: float = 0.0, ttl_s: float | None = None) -> Lease:
        """The lock, waiting up to ``wait_s``; ``LockBusyError`` when it stays held."""
        deadline = time.monotonic() + wait_s
        delay = 0.01
        while True:
            lease = self.try_acquire(name, ttl_s=ttl_s)
            if lease is not None:
                return lease
            if time.monotonic() >= deadline:
                raise LockBusyError(f"lock {name!r} is held by another worker")
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 0.2)

    def acquire_all(self, names: Sequence[str], *, wait_s: float = 0.0) -> list[Lease]:
        """Several locks in a fixed (sorted) order, so two workers wanting overlapping sets cannot
        deadlock; all or none."""
        held: list[Lease] = []
        try:
            for name in sorted(set(names)):
                held.append(self.acquire(name, wait_s=wait_s))
        except LockBusyError:
            for lease in held:
                self.release(lease)
            raise
        return held

    def release(self, lease: Lease) -> bool:
        return bool(self._release(keys=[keys.lock(lease.name)], args=[lease.token]))

    def extend(self, lease: Lease, *, ttl_s: float | None = None) -> bool:
        ttl = ttl_s if ttl_s is not None else self.ttl_s
        return bool(self._extend(keys=[keys.lock(lease.name)], args=[lease.token, int(ttl * 1000)]))

    def holder(self, name: str) -> int | None:
        raw = keys.text(self.redis.get(keys.lock(name)))
        return int(raw) if raw is not None else None

    @contextmanager
    def held(self, names: Sequence[str], *, wait_s: float = 0.0) -> Iterator[list[Lease]]:
        leases = self.acquire_all(names, wait_s=wait_s)
        try:
            yield leases
        finally:
            for lease in leases:
                self.release(lease)
