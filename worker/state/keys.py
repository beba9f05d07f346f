"""The one Redis key schema. Every key the project writes is built here (and listed in the README,
"State in Redis"); nothing outside ``worker.state`` talks to Redis.

Record keys (``sf:Lead:00Q…``, ``sf:Contact:003…``, ``hs:contacts:123``) are ``worker.sync.keys``'s
text form; person ids are the record key a person was first linked under (stable across conversions
and merges, which only re-point the links).

=======================================  ======  ==========================================================
key                                      type    holds
=======================================  ======  ==========================================================
crmsync:dirty:{crm}:{object}             set     ids changed and waiting for a sync
crmsync:dirty-lease:{crm}:{object}       zset    ids claimed by a worker, scored by lease expiry (epoch ms)
crmsync:dirty-seen:{crm}:{object}        zset    ids marked dirty, scored by when first marked (epoch ms),
                                                 taken by the sync (change-to-write latency)
crmsync:metrics                          hash    the workers' counters and latency buckets (``metrics.py``)
crmsync:event:{crm}:{event key}          string  webhook dedupe marker (TTL)
crmsync:link:{record key}                string  person id the record belongs to
crmsync:person:{person id}               hash    ``salesforce`` / ``hubspot``: the person's record keys
crmsync:base:{person id}                 hash    ``doc``: base JSON (records.base_to_json), ``fence``,
                                                 ``at``: epoch ms of the sync that stored it
crmsync:lock:{name}                      string  fencing token of the holder (PX expiry)
crmsync:fence                            string  last fencing token issued for any lock (INCR)
crmsync:dead:entries                     hash    person id → dead-letter JSON
crmsync:dead:index                       zset    person id scored by last dead-letter time (epoch ms)
crmsync:audit                            stream  one entry per field written, JSON in field ``e`` (retention)
crmsync:audit:holds                      hash    holder → ``expiry ms|oldest entry id`` the trimmer keeps
crmsync:cursor:{crm}:{name}              string  a change reader's cursor JSON
crmsync:pause:{crm}                      string  reason a CRM's work is paused (TTL = until it resumes)
crmsync:intent:{person id}               hash    run id → JSON of the creates that run is sending (TTL)
crmsync:delivered:{crm}:{name}           zset    change-reader delivered keys (``delivered.py``)
crmsync:attempts:{task id}               string  deliveries of one Celery task (TTL 1 day; ``runtime.py``)
crmsync:slot:{queue}:{n}                 string  a sync task is queued or running in slot n (PX expiry)
crmsync:runlock:{name}                   string  token of the one running poll of a CRM (PX expiry)
crmsync:lastpoll:{crm}                   string  the last poll's result JSON (``ops.py``; status)
crmsync:backfill:{id}                    hash    a backfill: ``spec``, counters, ``state`` (``ops.py``)
crmsync:backfill:{id}:chunks             hash    ``k:n`` a chunk's keys, ``r:n`` its result, ``p:n`` planned
crmsync:backfill:{id}:people             hash    person → the chunk that syncs it (multi-target scopes)
crmsync:backfill:{id}:leases             zset    ``enum`` / chunk n being worked, scored by lease expiry
crmsync:backfills                        zset    backfill ids by start time (epoch ms)
crmsync:redbeat:…                        various celery-redbeat's schedule and its beat lock
crmsync:ratelimit:{portal}:…             various HubSpot shared rate limiter (``ratelimit.py``)
crmsync:salesforce:api-usage:{org}       string  last Sforce-Limit-Info reading (``api_usage.py``)
=======================================  ======  ==========================================================
"""

from __future__ import annotations

PREFIX = "crmsync"


def dirty(crm: str, object_type: str) -> str:
    return f"{PREFIX}:dirty:{crm}:{object_type}"


def dirty_lease(crm: str, object_type: str) -> str:
    return f"{PREFIX}:dirty-lease:{crm}:{object_type}"


def dirty_seen(crm: str, object_type: str) -> str:
    return f"{PREFIX}:dirty-seen:{crm}:{object_type}"


METRICS = f"{PREFIX}:metrics"


def event(crm: str, event_key: str) -> str:
    return f"{PREFIX}:event:{crm}:{event_key}"


def link(record_key: str) -> str:
    return f"{PREFIX}:link:{record_key}"


def person(person_id: str) -> str:
    return f"{PREFIX}:person:{person_id}"


def base(person_id: str) -> str:
    return f"{PREFIX}:base:{person_id}"


def lock(name: str) -> str:
    return f"{PREFIX}:lock:{name}"


FENCE = f"{PREFIX}:fence"


DEAD_ENTRIES = f"{PREFIX}:dead:entries"
DEAD_INDEX = f"{PREFIX}:dead:index"
AUDIT = f"{PREFIX}:audit"
AUDIT_HOLDS = f"{PREFIX}:audit:holds"


def cursor(crm: str, name: str) -> str:
    return f"{PREFIX}:cursor:{crm}:{name}"


def pause(crm: str) -> str:
    return f"{PREFIX}:pause:{crm}"


def delivered(crm: str, name: str) -> str:
    return f"{PREFIX}:delivered:{crm}:{name}"


def attempts(task_id: str) -> str:
    return f"{PREFIX}:attempts:{task_id}"


def slot(queue: str, n: int) -> str:
    return f"{PREFIX}:slot:{queue}:{n}"


def intent(person_id: str) -> str:
    return f"{PREFIX}:intent:{person_id}"


def runlock(name: str) -> str:
    return f"{PREFIX}:runlock:{name}"


REDBEAT_PREFIX = f"{PREFIX}:redbeat:"
BACKFILLS = f"{PREFIX}:backfills"


def last_poll(crm: str) -> str:
    return f"{PREFIX}:lastpoll:{crm}"


def backfill(backfill_id: str) -> str:
    return f"{PREFIX}:backfill:{backfill_id}"


def backfill_chunks(backfill_id: str) -> str:
    return f"{PREFIX}:backfill:{backfill_id}:chunks"


def backfill_people(backfill_id: str) -> str:
    return f"{PREFIX}:backfill:{backfill_id}:people"


def backfill_leases(backfill_id: str) -> str:
    return f"{PREFIX}:backfill:{backfill_id}:leases"


def text(value: bytes | str | None) -> str | None:
    """Redis answers bytes unless the client decodes; the stores work in text."""
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
