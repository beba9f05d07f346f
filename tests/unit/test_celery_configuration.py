"""The Celery configuration the README promises, derived from settings, and the settings that would
break it refused with a message naming the variable."""

from __future__ import annotations

import pytest

from worker.celery_app import ROUTES, beat_schedule, celery_config
from worker.errors import ConfigError
from worker.settings import Settings, load_settings, redact_url


def test_tasks_are_acknowledged_late_and_requeued_when_their_worker_dies() -> None:
    conf = celery_config(Settings())
    assert conf["task_acks_late"] is True
    assert conf["task_reject_on_worker_lost"] is True
    assert conf["worker_prefetch_multiplier"] == 1


def test_the_visibility_timeout_outlasts_the_hard_time_limit() -> None:
    settings = Settings()
    conf = celery_config(settings)
    assert conf["broker_transport_options"]["visibility_timeout"] > conf["task_time_limit"]
    assert conf["task_soft_time_limit"] < conf["task_time_limit"]


def test_signals_sync_and_backfill_have_their_own_queues() -> None:
    conf = celery_config(Settings())
    assert [q.name for q in conf["task_queues"]] == ["signals", "sync", "backfill"]
    assert ROUTES["crmsync.poll_salesforce"]["queue"] == "signals"
    assert ROUTES["crmsync.sync"]["queue"] == "sync"
    assert ROUTES["crmsync.backfill"]["queue"] == "backfill"


def test_beat_polls_each_enabled_crm_at_its_interval_on_redbeat() -> None:
    settings = Settings(salesforce_poll_seconds=20, hubspot_poll_seconds=45)
    conf = celery_config(settings)
    assert conf["beat_scheduler"] == "worker.beat:Scheduler"
    assert conf["redbeat_lock_timeout"] > conf["beat_max_loop_interval"]
    assert conf["beat_schedule"]["poll-salesforce"]["schedule"] == 20
    assert conf["beat_schedule"]["poll-hubspot"]["schedule"] == 45
    assert "poll-hubspot" not in beat_schedule(Settings(hubspot_enabled=False))


def test_scheduled_ticks_outlive_a_worker_clock_minutes_off() -> None:
    """``expires`` is absolute, set by the beat's clock and read by the worker's: a short one made a
    worker five minutes ahead discard every tick (tests/faults/test_a_worker_with_a_skewed_clock.py)."""
    schedule = beat_schedule(Settings(salesforce_poll_seconds=20, hubspot_poll_seconds=1800))
    assert {name: entry["options"]["expires"] for name, entry in schedule.items()} == {
        "dispatch": 900,
        "backfill-watch": 900,
        "poll-salesforce": 900,
        "poll-hubspot": 1800,
    }


def test_default_poll_intervals_are_at_most_a_minute() -> None:
    settings = Settings()
    assert settings.salesforce_poll_seconds <= 60 and settings.hubspot_poll_seconds <= 60


def test_retries_never_park_a_long_countdown_on_the_broker() -> None:
    settings = Settings()
    assert settings.retry_backoff_max_seconds <= 60


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"CRMSYNC_VISIBILITY_TIMEOUT": "100", "CRMSYNC_TASK_TIME_LIMIT": "300"}, "visibility_timeout"),
        ({"CRMSYNC_TASK_SOFT_TIME_LIMIT": "400"}, "task_soft_time_limit"),
        ({"CRMSYNC_SYNC_BATCH_SIZE": "0"}, "CRMSYNC_SYNC_BATCH_SIZE"),
        ({"CRMSYNC_BEAT_LOCK_TIMEOUT": "1"}, "beat_lock_timeout"),
    ],
)
def test_settings_that_would_break_delivery_are_refused(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=named):
        load_settings()


def test_the_broker_defaults_to_the_redis_url_and_urls_are_shown_redacted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CRMSYNC_REDIS_URL", "redis://:s3cret@redis:6379/0")
    settings = load_settings()
    assert settings.broker == "redis://:s3cret@redis:6379/0"
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.describe())
    assert redact_url(settings.broker) == "redis://:***@redis:6379/0"


def test_the_map_path_comes_from_crmsync_map(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMSYNC_MAP", "mappings/sirius-waterfall.yaml")
    assert str(load_settings().map_path) == "mappings/sirius-waterfall.yaml"


def test_crm_credentials_are_only_needed_when_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRMSYNC_SALESFORCE_CONSUMER_KEY", raising=False)
    settings = load_settings()
    with pytest.raises(ConfigError, match="CRMSYNC_SALESFORCE_CONSUMER_KEY"):
        _ = settings.salesforce_settings


def test_the_audit_retention_settings_reach_the_worker_s_audit_stream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from worker.tasks import Runtime

    monkeypatch.setenv("CRMSYNC_AUDIT_MAX_ENTRIES", "5000")
    monkeypatch.setenv("CRMSYNC_AUDIT_MAX_AGE_DAYS", "2")
    audit = Runtime(load_settings()).state.audit
    assert (audit.max_len, audit.max_age_ms) == (5000, 2 * 86_400_000)
    monkeypatch.setenv("CRMSYNC_AUDIT_MAX_ENTRIES", "0")
    with pytest.raises(ConfigError, match="CRMSYNC_AUDIT_MAX_ENTRIES"):
        load_settings()


def test_beat_sends_the_backfill_watch_to_the_backfill_workers() -> None:
    conf = celery_config(Settings(backfill_watch_seconds=7))
    watch = conf["beat_schedule"]["backfill-watch"]
    assert (watch["task"], watch["schedule"]) == ("crmsync.backfill_watch", 7)
    assert {ROUTES[t]["queue"] for t in ("crmsync.backfill_watch", "crmsync.backfill_chunk")} == {"backfill"}
