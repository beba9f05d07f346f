"""The beat's scheduler: celery-redbeat's, made to outlive a Redis outage.

celery-redbeat extends its lock on every tick and reads the due entries from Redis; when Redis is
unreachable the tick raises ``ConnectionError`` and, after an outage longer than the lock timeout, the
extend raises ``LockNotOwnedError`` (the lock expired meanwhile). Either ends ``celery beat``. Here a
tick that cannot reach Redis logs one line and waits ``max_interval``; a lock lost meanwhile is taken
again (blocking while another beat holds it, exactly as at start-up), and the static schedule is
stored again in case Redis came back without it. No tick runs without the lock.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from redbeat.schedulers import RedBeatScheduler  # type: ignore[import-untyped]

log = logging.getLogger("crmsync.beat")
UNREACHABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class Scheduler(RedBeatScheduler):  # type: ignore[misc]
    """``RedBeatScheduler`` whose tick survives a lost Redis and a lost lock (module docstring)."""

    _lock_lost = False

    def tick(self, *args: Any, **kwargs: Any) -> float:
        try:
            if self._lock_lost:
                self._take_lock_again()
            return float(super().tick(*args, **kwargs))
        except UNREACHABLE as exc:
            log.warning(
                "beat: Redis unreachable (%s); trying again in %.0f s", type(exc).__name__, self.max_interval
            )
            return float(self.max_interval)
        except redis.exceptions.LockError:
            log.warning("beat: the lock expired while Redis was unreachable; taking it again")
            self._lock_lost = True
            return 0.0

    def _take_lock_again(self) -> None:
        """Blocks until this beat holds the lock (another beat may have taken over meanwhile)."""
        if self.lock is not None:
            self.lock.acquire()  # blocking, polling every max_interval (redbeat's own lock settings)
        self._lock_lost = False
        log.warning("beat: lock taken again")
        self.setup_schedule()
