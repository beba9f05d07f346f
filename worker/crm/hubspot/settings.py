"""HubSpot adapter settings (env prefix ``CRMSYNC_HUBSPOT_``). Secrets are ``SecretStr``: never logged."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker.state.ratelimit import RateBudget


class HubSpotSettings(BaseSettings):
    """Connection, auth, rate budget and change-reading knobs for one HubSpot portal."""

    model_config = SettingsConfigDict(env_prefix="CRMSYNC_HUBSPOT_", extra="ignore")

    base_url: str = Field(
        "https://api.hubapi.com",
        description="API host; point it at the sandbox (e.g. http://127.0.0.1:8090) in tests and demos.",
    )
    access_token: SecretStr | None = Field(
        None, description="Private-app token, or the current OAuth access token (refreshed when it expires)."
    )
    client_id: str | None = Field(None, description="OAuth app client id (needed to refresh tokens).")
    client_secret: SecretStr | None = Field(None, description="OAuth app client secret.")
    refresh_token: SecretStr | None = Field(
        None, description="OAuth refresh token; enables refresh-once-on-401."
    )
    app_secret: SecretStr | None = Field(
        None, description="The app's client secret used to verify X-HubSpot-Signature-v3 on webhooks."
    )
    app_id: int | None = Field(
        None, description="Our app id: webhook events with this sourceId are our own writes and are skipped."
    )
    webhook_url: str | None = Field(
        None,
        description="The public URL HubSpot posts to (what it signs); default: the URL requested.",
    )
    portal_limit_per_10s: int = Field(
        190, description="The portal's published 10-secondly limit (100/190/250)."
    )
    budget_per_10s: int = Field(170, description="Our share of the 10-secondly limit across all workers.")
    search_per_second: int = Field(4, description="Our search budget per second (HubSpot allows 5).")
    daily_budget: int = Field(500_000, description="Calls per UTC day across all workers; then stop.")
    index_lag_margin_s: float = Field(30.0, description="Read windows close this long before now.")
    lookback_s: float = Field(
        60.0,
        description="Longest search-index lag tolerated: a poll re-reads changes older than the cursor "
        "made after (previous poll - lookback_s).",
    )
    create_key_property: str = Field(
        "crmsync_key",
        description="A unique-value contact property (hasUniqueValue) holding each create's idempotency "
        "handle: creates go as batch upserts on it, so a create re-sent after a lost answer finds the "
        "contact the first send made. Create it in the portal before the first sync.",
    )
    request_timeout_s: float = Field(30.0, description="Per-request timeout.")
    max_attempts: int = Field(6, description="Tries per call for retriable failures.")
    backoff_initial_s: float = Field(0.5, description="First backoff when no reset header says otherwise.")
    backoff_max_s: float = Field(30.0, description="Cap on one backoff wait.")

    @model_validator(mode="after")
    def _budget_below_limit(self) -> HubSpotSettings:
        if self.budget_per_10s >= self.portal_limit_per_10s:
            raise ValueError(
                f"budget_per_10s ({self.budget_per_10s}) must stay below the portal's limit "
                f"({self.portal_limit_per_10s}) so several workers never hit a 429"
            )
        if self.search_per_second > 5:
            raise ValueError("search_per_second must be at most 5 (HubSpot's search limit)")
        return self

    def rate_budget(self) -> RateBudget:
        """The shared Redis budget these settings ask for (``worker.state.ratelimit``)."""
        return RateBudget(
            per_ten_seconds=self.budget_per_10s,
            search_per_second=self.search_per_second,
            daily=self.daily_budget,
        )
