"""The Celery application: configuration, queues, routes and the beat schedule, built from ``Settings``.

Why each setting (the README's "Operations" section states the same):
- ``task_acks_late`` + ``task_reject_on_worker_lost``: a message is acknowledged only after its task
  finished, and a killed child puts it back instead of acking it (Celery's default acks early, and
  acks even late tasks when the child dies). Brokers count no redeliveries, so every task also keeps
  its own attempt counter in Redis (``worker.tasks.CrmSyncTask``) and gives up after ``max_attempts``.
- ``broker_transport_options.visibility_timeout`` > ``task_time_limit``: Redis redelivers a message
  that is unacknowledged for that long, so a running task must always finish (or be killed) first.
  The sweep that redelivers runs every 10 s (kombu's default throttle makes it every 100 s).
- ``worker_prefetch_multiplier = 1``: a worker process reserves one message at a time, so a long sync
  batch never holds others hostage, and reserved messages do not age towards the visibility timeout.
- Queues ``signals`` (polls, dispatch), ``sync`` (people) and ``backfill``: run backfills on their own
  worker (``crmsync worker --queues backfill``) and they never starve live changes.
- No long countdowns: retries wait at most ``retry_backoff_max_seconds``; longer waits (a quota
  pause) are a Redis key that polls and dispatch read, not a message parked on the broker.
- Beat runs on celery-redbeat: the schedule lives in Redis and a lock renewed every
  ``beat_max_loop_interval`` lets only one beat tick; a second one blocks until the first dies and its
  lock expires (``beat_lock_timeout``).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from celery import Celery
from celery.signals import after_setup_logger, worker_init
from kombu.entity import Queue

from worker.errors import ConfigError, MappingError
from worker.settings import Settings, load_settings
from worker.state import keys

QUEUES = ("signals", "sync", "backfill")
ROUTES = {
    "crmsync.poll_salesforce": {"queue": "signals"},
    "crmsync.poll_hubspot": {"queue": "signals"},
    "crmsync.dispatch": {"queue": "signals"},
    "crmsync.sync": {"queue": "sync"},
    "crmsync.backfill": {"queue": "backfill"},
    "crmsync.backfill_chunk": {"queue": "backfill"},
    "crmsync.backfill_watch": {"queue": "backfill"},
}
DISPATCH_SECONDS = 1.0
EXIT_REFUSED = 2
#: A scheduled message's ``expires`` is an absolute time set by the beat's clock and checked by the
#: worker's: a worker whose clock runs ahead by more than the expiry discards every poll and dispatch as
#: expired (found with a worker five minutes ahead: it did nothing at all). Ticks therefore expire no
#: sooner than this, so worker clocks up to this far off still run them; the backlog a stopped worker
#: finds is bounded by it (polls of a CRM run one at a time and dispatch is a few Redis calls).
MIN_EXPIRES_S = 900.0


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """A poll per enabled CRM at its interval, the dispatcher that turns dirty keys into sync tasks, and
    the backfill watch that resumes backfill work whose worker died."""
    schedule: dict[str, dict[str, Any]] = {
        "dispatch": {
            "task": "crmsync.dispatch",
            "schedule": DISPATCH_SECONDS,
            "options": {"expires": MIN_EXPIRES_S},
        }
    }
    schedule["backfill-watch"] = {  # consumed by the backfill workers: they resume what died
        "task": "crmsync.backfill_watch",
        "schedule": settings.backfill_watch_seconds,
        "options": {"expires": max(settings.backfill_watch_seconds, MIN_EXPIRES_S)},
    }
    if settings.salesforce_enabled:
        schedule["poll-salesforce"] = {
            "task": "crmsync.poll_salesforce",
            "schedule": settings.salesforce_poll_seconds,
            "options": {"expires": max(settings.salesforce_poll_seconds, MIN_EXPIRES_S)},
        }
    if settings.hubspot_enabled:
        schedule["poll-hubspot"] = {
            "task": "crmsync.poll_hubspot",
            "schedule": settings.hubspot_poll_seconds,
            "options": {"expires": max(settings.hubspot_poll_seconds, MIN_EXPIRES_S)},
        }
    return schedule


def celery_config(settings: Settings) -> dict[str, Any]:
    """Every Celery setting the service relies on (tested in tests/unit/test_celery_config.py)."""
    return {
        "broker_url": settings.broker,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            "visibility_timeout": settings.visibility_timeout,
            # kombu sweeps unacknowledged messages every interval x throttle (10 x 10 s by default): a
            # killed worker's message would come back up to 100 s after its visibility timeout
            "unacked_restore_interval": 10,
            "unacked_restore_throttle": 1,
        },
        "result_backend": None,
        "task_ignore_result": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "task_time_limit": settings.task_time_limit,
        "task_soft_time_limit": settings.task_soft_time_limit,
        "task_queues": [Queue(name) for name in QUEUES],  # type: ignore[no-untyped-call]
        "task_default_queue": "sync",
        "task_routes": ROUTES,
        "task_default_delivery_mode": "persistent",
        "worker_prefetch_multiplier": 1,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_max_tasks_per_child": 1000,
        "worker_hijack_root_logger": False,
        "beat_scheduler": "worker.beat:Scheduler",
        "beat_schedule": beat_schedule(settings),
        "beat_max_loop_interval": settings.beat_max_loop_interval,
        "redbeat_redis_url": settings.redis,
        "redbeat_redis_options": {},
        "redbeat_key_prefix": keys.REDBEAT_PREFIX,
        "redbeat_lock_key": f"{keys.REDBEAT_PREFIX}:lock",
        "redbeat_lock_timeout": int(settings.beat_lock_timeout),
        "timezone": "UTC",
        "enable_utc": True,
    }


def make_app(settings: Settings | None = None) -> Celery:
    settings = settings or load_settings()
    celery = Celery("crmsync", include=["worker.tasks", "worker.ops.tasks"])
    celery.conf.update(celery_config(settings))
    celery.conf.crmsync_settings = settings
    return celery


app = make_app()


@worker_init.connect  # type: ignore[untyped-decorator]
def _refuse_a_map_that_does_not_fit(**_: Any) -> None:
    """Before the worker consumes anything: a map that does not fit the CRMs stops it (exit 2)."""
    settings: Settings = app.conf.crmsync_settings
    if not settings.verify_map_on_start:
        return
    from worker.startup import verify_map

    try:
        verify_map(settings)
    except (ConfigError, MappingError) as exc:
        print(str(exc), file=sys.stderr, flush=True)
        os._exit(EXIT_REFUSED)  # SystemExit here would be caught and logged by Celery as a crash


@after_setup_logger.connect  # type: ignore[untyped-decorator]
def _project_log_lines(loglevel: Any = None, **_: Any) -> None:
    """Once Celery has set up its own logging (worker and beat, before the pool forks): the project's
    loggers get the ``CRMSYNC_LOG_FORMAT`` lines (``worker.logs``) at the command's ``--loglevel``."""
    from worker.logs import configure

    # the real stderr, as Celery's own handler uses: Celery later redirects sys.stderr to a logger
    configure(level=loglevel, stream=sys.__stderr__)
