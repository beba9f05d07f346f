"""The root settings of the running service: one object every process (worker, beat, demo) reads.

Env prefix ``CRMSYNC_``. The CRM connections keep their own settings classes
(``CRMSYNC_SALESFORCE_*``, ``CRMSYNC_HUBSPOT_*``); they are built on first use through
``salesforce()`` / ``hubspot()``, so a process that does not talk to one CRM never needs its credentials,
and a missing credential is reported as one clear ``ConfigError`` naming the variables.
URLs that may carry a password (Redis, broker) are ``SecretStr`` and only shown redacted.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker.crm.hubspot.settings import HubSpotSettings
from worker.crm.salesforce.settings import SalesforceSettings
from worker.errors import ConfigError
from worker.maps import MAP_ENV, resolve_map
from worker.sync.settings import SyncSettings

DEFAULT_MAP = Path("default")  # the shipped map of that name (package data)
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
S = TypeVar("S", bound=BaseSettings)


def redis_url_field(*env_names: str) -> Any:
    """The Redis URL setting, defined once for every settings class that reaches Redis (the daemon's
    ``Settings``, the receivers' ``WebSettings``): read from the first of ``env_names`` that is set; a
    secret, since it may carry a password."""
    return Field(
        SecretStr(DEFAULT_REDIS_URL),
        validation_alias=AliasChoices(*env_names, "redis_url"),
        description="Redis holding the state (cursors, dirty sets, event markers, bases, locks, audit); "
        "every process shares it. May carry a password (shown redacted).",
    )


def redact_url(url: str) -> str:
    """``redis://:secret@host:6379/0`` → ``redis://:***@host:6379/0`` (for logs and banners)."""
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query, parts.fragment))


class Settings(BaseSettings):
    """Runtime knobs. Every field is documented in the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="CRMSYNC_", extra="ignore", populate_by_name=True)

    redis_url: SecretStr = redis_url_field("CRMSYNC_REDIS_URL")
    broker_url: SecretStr | None = Field(
        None,
        description="Celery broker; default: the Redis URL. RabbitMQ works too (amqp://…).",
    )
    map_path: Path = Field(
        DEFAULT_MAP,
        validation_alias=AliasChoices("CRMSYNC_MAP", "map_path"),
        description="The active definition map: a file, or a shipped map's name (default, sirius-waterfall).",
    )
    salesforce_enabled: bool = Field(True, description="Poll and write Salesforce.")
    hubspot_enabled: bool = Field(True, description="Poll and write HubSpot.")
    salesforce_poll_seconds: float = Field(30.0, gt=0, le=3600, description="Salesforce poll interval.")
    hubspot_poll_seconds: float = Field(30.0, gt=0, le=3600, description="HubSpot poll interval.")
    sync_batch_size: int = Field(50, ge=1, le=200, description="Dirty people claimed by one sync task.")
    sync_lease_seconds: float = Field(
        600.0, gt=0, description="A claimed key not finished within this returns to the dirty set."
    )
    sync_fanout: int = Field(
        4, ge=1, le=64, description="Sync tasks a poll enqueues at most when the dirty set has work."
    )
    task_soft_time_limit: float = Field(
        240.0, gt=0, description="A task gets SoftTimeLimitExceeded after this and returns its batch."
    )
    task_time_limit: float = Field(300.0, gt=0, description="Hard limit: the child process is killed.")
    visibility_timeout: float = Field(
        3600.0,
        gt=0,
        description="Redis broker: an unacknowledged message is redelivered after this. Must exceed "
        "task_time_limit, or a running task is delivered twice.",
    )
    max_attempts: int = Field(
        5, ge=1, description="Deliveries of one task (own counter, brokers count none) before dead-letter."
    )
    retry_backoff_seconds: float = Field(2.0, ge=0, description="First retry delay; doubles per attempt.")
    retry_backoff_max_seconds: float = Field(
        60.0, ge=0, description="Cap on a retry delay (short: no long countdowns parked on the broker)."
    )
    sync_drain_seconds: float = Field(
        30.0, gt=0, description="A sync task works batches for at most this long, then ends (bounded tasks)."
    )
    beat_lock_timeout: float = Field(
        30.0, gt=0, description="The beat lock expires this long after its holder stops renewing it."
    )
    beat_max_loop_interval: float = Field(5.0, gt=0, description="The beat renews its lock this often.")
    backfill_lease_seconds: float = Field(
        60.0, gt=0, description="A backfill task's lease (renewed every third of it while it runs)."
    )
    backfill_watch_seconds: float = Field(
        30.0, gt=0, description="How often beat re-sends backfill work whose lease expired unfinished."
    )
    audit_max_entries: int = Field(
        1_000_000, ge=1, description="The audit stream keeps at most this many entries (trimmed on append)."
    )
    audit_max_age_days: float = Field(
        0.0, ge=0, description="Audit entries older than this are trimmed; 0 keeps them (count only)."
    )
    verify_map_on_start: bool = Field(
        True, description="Check the map against the live CRMs before a worker syncs anything."
    )

    @field_validator("map_path", mode="after")
    @classmethod
    def _resolve_map(cls, value: Path) -> Path:
        return resolve_map(value, MAP_ENV)

    @model_validator(mode="after")
    def _limits_fit(self) -> Settings:
        if self.task_soft_time_limit >= self.task_time_limit:
            raise ValueError("task_soft_time_limit must be below task_time_limit")
        if self.visibility_timeout <= self.task_time_limit:
            raise ValueError(
                f"visibility_timeout ({self.visibility_timeout:g}s) must exceed task_time_limit "
                f"({self.task_time_limit:g}s), or the broker redelivers tasks that are still running"
            )
        if self.retry_backoff_max_seconds >= self.visibility_timeout:
            raise ValueError("retry_backoff_max_seconds must stay well below visibility_timeout")
        if self.sync_drain_seconds >= self.task_soft_time_limit:
            raise ValueError("sync_drain_seconds must stay below task_soft_time_limit")
        if self.beat_lock_timeout <= self.beat_max_loop_interval:
            raise ValueError("beat_lock_timeout must exceed beat_max_loop_interval (the renew period)")
        return self

    @property
    def broker(self) -> str:
        return (self.broker_url or self.redis_url).get_secret_value()

    @property
    def redis(self) -> str:
        return self.redis_url.get_secret_value()

    @cached_property
    def salesforce_settings(self) -> SalesforceSettings:
        return _build(SalesforceSettings, "CRMSYNC_SALESFORCE_")

    @cached_property
    def hubspot_settings(self) -> HubSpotSettings:
        return _build(HubSpotSettings, "CRMSYNC_HUBSPOT_")

    @cached_property
    def sync_settings(self) -> SyncSettings:
        """The sync service's settings (``CRMSYNC_SYNC_*``: person locks, first-sight window, pauses)."""
        return _build(SyncSettings, "CRMSYNC_SYNC_")

    def describe(self) -> dict[str, str]:
        """What a banner or ``--json`` status may show: no secrets, URLs redacted."""
        return {
            "redis": redact_url(self.redis),
            "broker": redact_url(self.broker),
            "map": str(self.map_path),
            "salesforce": f"every {self.salesforce_poll_seconds:g}s" if self.salesforce_enabled else "off",
            "hubspot": f"every {self.hubspot_poll_seconds:g}s" if self.hubspot_enabled else "off",
        }


def _build(cls: type[S], prefix: str) -> S:
    """Build one settings class; any invalid value becomes one ConfigError naming its variables."""
    try:
        return cls()
    except ValidationError as exc:
        problems = "; ".join(
            f"{prefix}{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}".replace(f"{prefix}: ", "")
            for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None


def load_settings() -> Settings:
    """The root settings from the environment (``CRMSYNC_*``)."""
    return _build(Settings, "CRMSYNC_")
