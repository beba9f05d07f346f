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
# Several groups at once, each all-or-none. KEYS: per group, its locks then their fence counters;
# ARGV[1] ttl ms, then per group the number of locks n → per group 0 (busy) or its n tokens
_ACQUIRE_GROUPS = """
local k, out = 1, {}
for g = 2, #ARGV do
  local n = tonumber(ARGV[g])
  local free = true
  for i = 0, n - 1 do
    if redis.call('EXISTS', KEYS[k + i]) == 1 then free = false end
  end
  if free then
    local tokens = {}
    for i = 0, n - 1 do
      local token = redis.call('INCR', KEYS[k + n + i])
      redis.call('SET', KEYS[k + i], token, 'PX', ARGV[1])
      table.insert(tokens, token)
    end
    table.insert(out, tokens)
  else
    table.insert(out, 0)
  end
  k = k + 2 * n
end
return out
"""
# KEYS: locks; ARGV: their tokens → how many were released
_RELEASE_MANY = """
local n = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[i] then n = n + redis.call('DEL', KEYS[i]) end
end
return n
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
        self._acquire_groups = redis.register_script(_ACQUIRE_GROUPS)
        self._release_many = redis.register_script(_RELEASE_MANY)

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

    def try_acquire_groups(self, groups: Sequence[Sequence[str]]) -> list[list[Lease] | None]:
        """Many independent lock sets in one round trip: each group gets all its locks or none
        (``None``: some lock of it is held, possibly by an earlier group of the same call)."""
        keys_: list[str] = []
        args: list[int] = [int(self.ttl_s * 1000)]
        ordered = [sorted(set(g)) for g in groups]
        for names in ordered:
            keys_ += [keys.lock(n) for n in names] + [keys.fence(n) for n in names]
            args.append(len(names))
        if not ordered:
            return []
        raw = self._acquire_groups(keys=keys_, args=args)
        expires = time.time() + self.ttl_s
        out: list[list[Lease] | None] = []
        for names, got in zip(ordered, raw, strict=True):
            if not isinstance(got, list):  # 0: some lock of the group is held
                out.append(None)
            else:
                out.append([Lease(n, int(t), expires) for n, t in zip(names, got, strict=True)])
        return out

    def release_all(self, leases: Sequence[Lease]) -> int:
        if not leases:
            return 0
        return int(
            self._release_many(keys=[keys.lock(x.name) for x in leases], args=[x.token for x in leases])
        )

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
