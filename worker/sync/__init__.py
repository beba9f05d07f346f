"""The sync service: the one thing a Celery task, the resync command and a backfill chunk call.

Construct one per worker process::

    import redis
    from worker.crm.hubspot import HubSpotAdapter, HubSpotSettings
    from worker.crm.salesforce import SalesforceAdapter, SalesforceSettings
    from worker.mapping import load_map
    from worker.state.store import State
    from worker.sync import Run, SyncService, SyncSettings

    r = redis.Redis.from_url(url)
    service = SyncService(
        cmap=load_map(path_of_the_active_map),
        salesforce=SalesforceAdapter(SalesforceSettings(), usage_store=ApiUsageStore(r)),
        hubspot=HubSpotAdapter(HubSpotSettings(), limiter=RedisRateLimiter(r, portal, hs.rate_budget())),
        state=State.connect(r, lock_ttl_s=SyncSettings().lock_ttl_s),
        settings=SyncSettings(),
    )

and call it with record keys (``worker.sync.keys.RecordKey``: ``sf:Lead:00Q…``, ``sf:Contact:003…``,
``hs:contacts:123``; ``RecordKey.from_dirty(crm, object_type, id)`` builds them from the dirty set)::

    outcome = service.sync_batch(["sf:Lead:00Q5e00000AbCdE", "hs:contacts:123"], Run.new("poll"))
    outcome.done      # keys finished: drop their dirty-set leases (DirtySet.finish)
    outcome.again     # keys to put back (DirtySet.release): retry / busy / paused
    outcome.paused    # {"salesforce"|"hubspot": Stop}: that CRM is paused (already recorded in Redis,
                      # PauseStore; every later batch answers PAUSED until it expires) — do not spin
    outcome.keys[k]   # KeyOutcome(key, disposition, person, writes, detail)

``sync_one(key, run)`` is ``sync_batch([key], run).keys[key]``. ``give_up(keys, run, detail)``
dead-letters keys whose retries the task layer has exhausted. The service never raises for a CRM
failure (it answers with dispositions); it raises only on programming errors and Redis outages.
Locks (per person, with fencing), links, bases, dead letters and the audit are the service's own
business; the task layer only claims keys, calls, and finishes/releases them.
"""

from __future__ import annotations

from worker.sync.keys import RecordKey
from worker.sync.outcome import BatchOutcome, Disposition, KeyOutcome, Run
from worker.sync.service import SyncService
from worker.sync.settings import SyncSettings

__all__ = [
    "BatchOutcome",
    "Disposition",
    "KeyOutcome",
    "RecordKey",
    "Run",
    "SyncService",
    "SyncSettings",
]
