"""Settings of the receivers' web app (env prefix ``CRMSYNC_WEB_``). Secrets are ``SecretStr``.

The HubSpot signing secret, app id and public webhook URL stay in ``HubSpotSettings``
(``CRMSYNC_HUBSPOT_APP_SECRET`` / ``_APP_ID`` / ``_WEBHOOK_URL``), shared with the adapter.
"""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker.settings import redis_url_field

_ORG_ID = re.compile(r"00D[a-zA-Z0-9]{12}(?:[a-zA-Z0-9]{3})?")


class WebSettings(BaseSettings):
    """What the receivers accept, and the limits every request meets before its body is read."""

    model_config = SettingsConfigDict(env_prefix="CRMSYNC_WEB_", extra="ignore", populate_by_name=True)

    redis_url: SecretStr = redis_url_field("CRMSYNC_WEB_REDIS_URL", "CRMSYNC_REDIS_URL")
    host: str = Field("127.0.0.1", description="Interface `crmsync web` binds to.")
    port: int = Field(8000, ge=0, le=65535, description="Port `crmsync web` binds to.")
    workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes.")
    salesforce_org_id: str | None = Field(
        None,
        description="The org whose Outbound Messages are accepted (15 or 18 characters, 00D…); "
        "unset: the Outbound Message endpoint answers 404.",
    )
    callout_secret: SecretStr | None = Field(
        None,
        description="Shared secret (24+ characters) Flow/Apex callouts send as "
        "`Authorization: Bearer <secret>`; unset: the callout endpoint answers 404.",
    )
    max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest request body; larger is 413 before it is read."
    )
    max_events: int = Field(
        1_000, ge=1, description="Most events (HubSpot) or changes (callout) one request may carry."
    )
    record_chunk: int = Field(
        250, ge=1, description="Events per Redis script call, so no request blocks Redis for long."
    )
    body_timeout_s: float = Field(
        10.0, gt=0, description="A request body must arrive within this long after its headers (408)."
    )
    header_timeout_s: float = Field(
        10.0, gt=0, description="A connection must send complete request headers within this long."
    )
    timeout_keep_alive_s: int = Field(5, ge=1, description="Idle keep-alive connections close after.")
    max_header_bytes: int = Field(
        16_384, ge=1024, description="Largest request head (h11's incomplete-event limit)."
    )
    limit_concurrency: int = Field(
        256, ge=1, description="Open connections + tasks per process before uvicorn answers 503."
    )

    @field_validator("salesforce_org_id")
    @classmethod
    def _org_id(cls, value: str | None) -> str | None:
        if value is not None and not _ORG_ID.fullmatch(value):
            raise ValueError("salesforce_org_id must be a 15- or 18-character org id starting 00D")
        return value

    @field_validator("callout_secret")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 24:
            raise ValueError("callout_secret must be at least 24 characters")
        return value
