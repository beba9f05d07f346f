"""Sync service settings (env prefix ``CRMSYNC_SYNC_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker.sync.facts import CHURNED_ACCOUNT_TYPES, CUSTOMER_ACCOUNT_TYPES


class SyncSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRMSYNC_SYNC_", extra="ignore")

    lock_ttl_s: float = Field(
        120.0, gt=0, description="Expiry of a person's lock: longer than one batch's sync can take."
    )
    lock_wait_s: float = Field(
        0.0, ge=0, description="How long to wait for a held person lock before answering busy."
    )
    new_record_window_s: float = Field(
        86_400.0,
        ge=0,
        description="A record met for the first time counts as new (first-sight rules and its facts fire) "
        "when it was created this recently; older ones (a backfill, an old lead edited today) do not.",
    )
    quota_pause_s: float = Field(
        900.0, gt=0, description="How long a CRM's work pauses after its quota (or our share) ran out."
    )
    fatal_pause_s: float = Field(
        300.0, gt=0, description="How long a CRM's work pauses after refused credentials or permissions."
    )
    customer_account_types: frozenset[str] = Field(
        CUSTOMER_ACCOUNT_TYPES, description="Salesforce Account.Type values that make an account a customer."
    )
    hubspot_deal_facts: bool = Field(
        False,
        description="Also read each contact's associated HubSpot deals as opportunities (for portals whose "
        "deals are not Salesforce opportunities synced over; two more batch calls per 100 people).",
    )
    hubspot_won_stages: frozenset[str] = Field(
        frozenset({"closedwon"}), description="HubSpot dealstage values that mean closed won."
    )
    hubspot_lost_stages: frozenset[str] = Field(
        frozenset({"closedlost"}), description="HubSpot dealstage values that mean closed lost."
    )
    churned_account_types: frozenset[str] = Field(
        CHURNED_ACCOUNT_TYPES, description="Salesforce Account.Type values of a churned customer."
    )
