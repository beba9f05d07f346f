"""Typed settings for the Salesforce adapter (env prefix ``CRMSYNC_SALESFORCE_``; secrets are SecretStr)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker.errors import ConfigError


class AuthMode(StrEnum):
    """How the worker logs in. The OAuth 2.0 server-to-server flows are the supported path:
    ``client_credentials`` (the default) and ``jwt``. ``soap`` is legacy: Salesforce does not offer SOAP
    ``login()`` from API 65.0 and retires it for every version in Summer '27 (help.salesforce.com
    article 005132110; api_eol_soap.htm), and new orgs have it disabled by default."""

    SESSION = "session"  # session id + instance URL (cannot be refreshed)
    SOAP = "soap"  # LEGACY: username + password + security token, SOAP login() (warns)
    OAUTH_PASSWORD = "oauth_password"  # OAuth username-password flow (connected app)
    CLIENT_CREDENTIALS = "client_credentials"  # OAuth client credentials (needs a My Domain)
    JWT = "jwt"  # OAuth JWT bearer (connected app certificate)


SOAP_LOGIN_LAST_VERSION = 64.0
SOAP_LEGACY_WARNING = (
    "Salesforce auth mode 'soap' uses SOAP login(), which Salesforce does not offer from API 65.0 and "
    "retires for every version in Summer '27; switch CRMSYNC_SALESFORCE_AUTH_MODE to client_credentials "
    "or jwt"
)


class SalesforceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRMSYNC_SALESFORCE_", extra="ignore")

    auth_mode: AuthMode = Field(
        AuthMode.CLIENT_CREDENTIALS,
        description="How to authenticate: client_credentials (default) or jwt; soap is legacy.",
    )
    instance_url: str | None = Field(
        None, description="https://<my-domain>.my.salesforce.com (session mode)."
    )
    session_id: SecretStr | None = Field(
        None, description="An existing session id / access token (session mode)."
    )
    username: str | None = Field(None, description="Integration user (soap, oauth_password, jwt).")
    password: SecretStr | None = None
    security_token: SecretStr | None = None
    consumer_key: str | None = Field(None, description="Connected app consumer key (OAuth modes).")
    consumer_secret: SecretStr | None = None
    private_key: SecretStr | None = Field(None, description="PEM private key for JWT bearer.")
    private_key_file: Path | None = None
    domain: str = Field("login", description="'login', 'test' or '<my-domain>.my' (client credentials).")
    login_url: str | None = Field(
        None,
        description="Send login calls (SOAP and OAuth) here instead of https://<domain>.salesforce.com; "
        "for the local sandbox only, e.g. https://127.0.0.1:8443.",
    )
    ca_bundle: Path | None = Field(None, description="CA certificate to trust (the sandbox's ca.pem).")
    api_version: str = Field(
        "59.0", pattern=r"^\d{2}\.0$", description="REST/SOAP API version, e.g. 59.0 (31.0 and later)."
    )
    timeout_seconds: float = 60.0
    max_api_share: float = Field(
        0.5, gt=0, le=1, description="Largest share of the org's daily API allocation this worker may use."
    )
    api_share_recheck_seconds: float = Field(
        600.0, ge=0, description="After stopping for the share, probe again with one call after this long."
    )
    query_batch_size: int = Field(2000, ge=200, le=2000, description="Sforce-Query-Options batchSize.")
    write_batch_size: int = Field(200, ge=1, le=200, description="Records per composite/sobjects call.")
    id_chunk_size: int = Field(
        300, ge=1, le=800, description="Ids per `Id IN (...)` query (keeps the URL under ~16 KB)."
    )
    lookback_seconds: float = Field(300.0, ge=0, description="Re-read window for late commits.")
    bulk_threshold: int = Field(50_000, ge=1, description="Use Bulk API 2.0 for reads larger than this.")
    create_upsert_fields: dict[str, str] = Field(
        default_factory=lambda: {"Lead": "HubSpot_Contact_ID__c"},
        description="Per object, an external-id field: creates of records carrying it go as an "
        "idempotent upsert (PATCH composite/sobjects/<Object>/<Field>), so a retry never duplicates.",
    )
    auto_assign: bool = Field(
        False,
        description="Sforce-Auto-Assign on writes: False keeps the org's assignment rules from "
        "re-assigning lead owners on every sync write.",
    )
    call_task_field: str = Field(
        "TaskSubtype",
        pattern=r"^[A-Za-z][A-Za-z0-9_]*$",
        description="Task field that marks a call: 'Log a Call' sets TaskSubtype = Call (often no Type).",
    )
    call_task_values: list[str] = Field(
        default_factory=lambda: ["Call"],
        min_length=1,
        description="Values of CALL_TASK_FIELD that are calls.",
    )
    bulk_write_threshold: int = Field(
        10_000,
        ge=1,
        description="Upserts (keyed creates, updates) of one object in one write above this many go "
        "through a Bulk API 2.0 ingest job instead of 200-record collections.",
    )
    bulk_poll_seconds: float = Field(1.0, ge=0, description="First wait between Bulk 2.0 job polls.")
    retry_attempts: int = Field(5, ge=1)
    retry_initial_wait: float = Field(0.5, ge=0)
    retry_max_wait: float = Field(30.0, ge=0)
    concurrent_limit_wait: float = Field(20.0, ge=0, description="Wait after a concurrent-request limit.")

    @property
    def usage_key(self) -> str:
        """Fallback name of the org in shared usage readings before a login has told the org id
        (the adapter keys readings by the org id once it has a session; no secrets)."""
        return self.instance_url or self.login_url or self.domain

    @model_validator(mode="after")
    def _check_mode(self) -> SalesforceSettings:
        need: dict[AuthMode, tuple[str, ...]] = {
            AuthMode.SESSION: ("instance_url", "session_id"),
            AuthMode.SOAP: ("username", "password", "security_token"),
            AuthMode.OAUTH_PASSWORD: ("username", "password", "consumer_key", "consumer_secret"),
            AuthMode.CLIENT_CREDENTIALS: ("consumer_key", "consumer_secret"),
            AuthMode.JWT: ("username", "consumer_key"),
        }
        missing = [name for name in need[self.auth_mode] if getattr(self, name) is None]
        if self.auth_mode is AuthMode.JWT and self.private_key is None and self.private_key_file is None:
            missing.append("private_key or private_key_file")
        if missing:
            raise ConfigError(f"Salesforce auth mode {self.auth_mode.value} needs: {', '.join(missing)}")
        if self.auth_mode is AuthMode.SOAP and float(self.api_version) > SOAP_LOGIN_LAST_VERSION:
            raise ConfigError(
                f"Salesforce SOAP login() is not available at API {self.api_version} (65.0 and later); "
                "use auth mode client_credentials or jwt"
            )
        if self.auth_mode is AuthMode.CLIENT_CREDENTIALS and self.domain in {"login", "test"}:
            # simple-salesforce only takes this flow for a My Domain (reference §1b)
            raise ConfigError(
                "Salesforce client credentials need CRMSYNC_SALESFORCE_DOMAIN='<my-domain>.my' "
                "(your org's My Domain), not login/test"
            )
        return self
