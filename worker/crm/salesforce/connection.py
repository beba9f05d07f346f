"""Authentication and the HTTP session: one login shared by every thread, refreshed once per expiry.

simple-salesforce's own re-login (on a 401 INVALID_SESSION_ID) is per client object and not guarded
against concurrent threads (reference §0.4; simple-salesforce#272, forcedotcom/SalesforcePy#56), so the
adapter logs in itself with ``SalesforceLogin`` and gives simple-salesforce a plain session id. When a
call sees an expired session, ``refresh(stale)`` logs in again only if nobody has done so since that
token was handed out.
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from simple_salesforce.api import Salesforce
from simple_salesforce.login import SalesforceLogin

from worker.crm.salesforce.classify import classify
from worker.crm.salesforce.settings import SOAP_LEGACY_WARNING, AuthMode, SalesforceSettings
from worker.errors import ConfigError, FatalError

log = logging.getLogger(__name__)


class SalesforceHTTPAdapter(HTTPAdapter):
    """Transport used for every Salesforce call: default timeout, pinned CA, optional login redirect.

    ``login_url`` (sandbox only) sends requests for ``https://<domain>.salesforce.com/...`` (where
    simple-salesforce aims SOAP and OAuth logins) to the sandbox instead. ``ca_bundle`` is applied here
    because requests lets ``REQUESTS_CA_BUNDLE`` override ``Session.verify`` (psf/requests#3829).
    """

    def __init__(self, *, timeout: float, ca_bundle: str | None, login_url: str | None) -> None:
        super().__init__()
        self.default_timeout = timeout
        self.ca_bundle = ca_bundle
        self.login = urlsplit(login_url) if login_url else None

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        if self.ca_bundle is not None:
            kwargs["verify"] = self.ca_bundle
        if self.login is not None and request.url:
            parts = urlsplit(request.url)
            if parts.hostname and parts.hostname.endswith(".salesforce.com"):
                request.url = urlunsplit(
                    (self.login.scheme, self.login.netloc, parts.path, parts.query, parts.fragment)
                )
        return super().send(request, **kwargs)


def build_http(settings: SalesforceSettings) -> requests.Session:
    http = requests.Session()
    adapter = SalesforceHTTPAdapter(
        timeout=settings.timeout_seconds,
        ca_bundle=str(settings.ca_bundle) if settings.ca_bundle else None,
        login_url=settings.login_url,
    )
    http.mount("https://", adapter)
    return http


def org_key(token: str, instance_url: str) -> str:
    """Name the org without secrets: a Salesforce session id / access token starts with the 15-char
    org id before ``!`` (e.g. ``00D5g000004ABCD!AQ…``); otherwise fall back to the instance host."""
    head = token.split("!", 1)[0]
    if len(head) == 15 and head.startswith("00D") and head.isalnum():
        return head
    return urlsplit(instance_url).netloc or instance_url


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


class Connection:
    """Holds the current session token and a simple-salesforce client built on it."""

    def __init__(self, settings: SalesforceSettings, http: requests.Session | None = None) -> None:
        self.settings = settings
        self.http = http or build_http(settings)
        self._lock = threading.Lock()
        self._token: str | None = None
        self._instance_url: str | None = None
        self._client: Salesforce | None = None
        self._org_key: str | None = None
        self.logins = 0

    def __repr__(self) -> str:
        return f"Connection(mode={self.settings.auth_mode.value}, instance={self._instance_url!r})"

    def _login(self) -> tuple[str, str]:
        s = self.settings
        mode = s.auth_mode
        if mode is AuthMode.SESSION:
            assert s.session_id is not None and s.instance_url is not None
            return s.session_id.get_secret_value(), s.instance_url
        common: dict[str, Any] = {"session": self.http, "domain": s.domain, "sf_version": s.api_version}
        try:
            if mode is AuthMode.SOAP:
                log.warning(SOAP_LEGACY_WARNING)
                token, instance = SalesforceLogin(
                    username=s.username,
                    password=_secret(s.password),
                    security_token=_secret(s.security_token),
                    **common,
                )
            elif mode is AuthMode.OAUTH_PASSWORD:
                token, instance = SalesforceLogin(
                    username=s.username,
                    password=_secret(s.password),
                    consumer_key=s.consumer_key,
                    consumer_secret=_secret(s.consumer_secret),
                    **common,
                )
            elif mode is AuthMode.CLIENT_CREDENTIALS:
                token, instance = SalesforceLogin(
                    consumer_key=s.consumer_key, consumer_secret=_secret(s.consumer_secret), **common
                )
            else:
                token, instance = SalesforceLogin(
                    username=s.username,
                    consumer_key=s.consumer_key,
                    privatekey=_secret(s.private_key),
                    privatekey_file=str(s.private_key_file) if s.private_key_file else None,
                    **common,
                )
        except Exception as exc:
            raise classify(exc) from None
        self.logins += 1
        return str(token), f"https://{instance}"

    def _ensure(self) -> tuple[Salesforce, str]:
        with self._lock:
            if self._client is None or self._token is None:
                token, instance_url = self._login()
                self._token, self._instance_url = token, instance_url
                self._org_key = org_key(token, instance_url)
                self._client = Salesforce(
                    session_id=token,
                    instance_url=instance_url,
                    session=self.http,
                    version=self.settings.api_version,
                )
            return self._client, self._token

    def client(self) -> tuple[Salesforce, str]:
        """The current client and the token it uses (pass the token back to ``refresh``)."""
        return self._ensure()

    def refresh(self, stale_token: str) -> None:
        """Log in again unless another thread already replaced ``stale_token``."""
        with self._lock:
            if self._token != stale_token:
                return
            if self.settings.auth_mode is AuthMode.SESSION:
                raise FatalError("Salesforce session expired and a configured session id cannot be renewed")
            self._client = None
            self._token = None
        self._ensure()

    def check_api_version(self) -> None:
        """Refuse to start on an API version the org does not serve: ``GET /services/data/`` (no
        authentication; api_rest dome_versions.htm) lists every available version. A retired one would
        answer every call 410 GONE and an unreleased one 404 (api_rest_eol.htm), failing each poll."""
        url = f"{self.instance_url}/services/data/"
        try:
            response = self.http.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            offered = [str(item["version"]) for item in response.json()]
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            raise classify(exc) from None
        if self.settings.api_version not in offered:
            span = f"{offered[0]}-{offered[-1]}" if offered else "none"
            raise ConfigError(
                f"Salesforce API version {self.settings.api_version} is not served by this org "
                f"(available: {span}); set CRMSYNC_SALESFORCE_API_VERSION"
            )

    @property
    def org_key(self) -> str | None:
        """The org id (``00D…``, 15 characters) this session belongs to, else the instance host;
        ``None`` before the first login."""
        return self._org_key

    @property
    def instance_url(self) -> str:
        self._ensure()
        assert self._instance_url is not None
        return self._instance_url
