"""Transport over the real hubspot-api-client: rate budget, classification, retries, token refresh.

The client is pointed at ``settings.base_url`` through its ``host`` configuration (and ``base_url`` for
``api_request``) [A, PY discovery_base/_default_api_factory]. Calls pass ``_preload_content=False`` so
we get the raw urllib3 response: the adapter returns HubSpot's JSON exactly as sent (camelCase keys,
string values, ``null`` for unset properties) and sees the status (200 vs 207) and rate-limit headers;
non-2xx answers still raise ``ApiException`` [A, PY rest.py]. The client's own urllib3 retries are off:
tenacity is the single retry owner, and urllib3's default ``Retry`` would otherwise sleep on a GET
429's ``Retry-After`` (seen against the sandbox). API objects are built once: each ``…_api`` property
access in the client creates a fresh connection pool [A, PY discovery_base].
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from hubspot import HubSpot
from urllib3.util.retry import Retry

from worker.crm.clock import offset_from_headers
from worker.crm.hubspot.classify import classify
from worker.crm.hubspot.retry import RetryPolicy
from worker.crm.hubspot.settings import HubSpotSettings
from worker.errors import ConfigError, FatalError, RetriableError, SessionExpiredError, error_reason

log = logging.getLogger(__name__)


@contextmanager
def _logger_levels_kept() -> Iterator[None]:
    """Undo the logger levels hubspot-api-client sets while its API objects are built.

    Each generated ``Configuration`` sets the process-wide ``urllib3`` logger (and its own package
    logger) to WARNING [A, PY ``configuration.py`` ``debug`` setter], hiding other libraries' debug
    logs (issue 12 item 10). The project configures only its own loggers, so every level is restored.
    """
    manager = logging.Logger.manager
    before = {n: lg.level for n, lg in manager.loggerDict.items() if isinstance(lg, logging.Logger)}
    before.setdefault("urllib3", logging.getLogger("urllib3").level)
    try:
        yield
    finally:
        for name, logger in list(manager.loggerDict.items()):
            if isinstance(logger, logging.Logger):
                level = before.get(name, logging.NOTSET)
                if logger.level != level:
                    logger.setLevel(level)


class RateLimiter(Protocol):
    """Grants a call (``acquire`` returns a ticket, or None) and is told when its answer is in."""

    def acquire(self, *, search: bool = False, timeout_s: float = 120.0) -> str | None: ...

    def release(self, ticket: str | None, headers: Mapping[str, str] | None = None) -> int: ...


@dataclass(frozen=True)
class Answer:
    """A 2xx answer: status, parsed JSON (None for 204) and headers."""

    status: int
    body: Any
    headers: Mapping[str, str]


@dataclass
class CallStats:
    calls: int = 0
    searches: int = 0
    throttled: int = 0
    retried: int = 0
    refreshes: int = 0
    retries: Counter[str] = field(default_factory=Counter)  # retried calls by reason (metrics)


@dataclass
class _CallState:
    """Per logical call: whether a refresh (ours or another thread's) already happened during it."""

    refreshed: bool = False


class _Apis:
    """Cached generated API objects for one access token, and the keyword arguments every call takes
    (raw response, per-request timeout)."""

    def __init__(self, client: Any, timeout_s: float) -> None:
        self.kw: dict[str, Any] = {"_preload_content": False, "_request_timeout": timeout_s}
        self.basic = {t: getattr(client.crm, t).basic_api for t in ("contacts", "companies", "deals")}
        self.batch = {t: getattr(client.crm, t).batch_api for t in ("contacts", "companies", "deals")}
        self.search = {t: getattr(client.crm, t).search_api for t in ("contacts", "companies", "deals")}
        self.tokens = client.oauth.tokens_api
        self.properties = client.crm.properties.core_api
        self.associations = client.crm.associations.v4.batch_api


Op = Callable[[_Apis], Any]


class HubSpotTransport:
    """Runs one API operation with budget, retries and refresh; returns an ``Answer`` or raises CrmError."""

    def __init__(self, settings: HubSpotSettings, limiter: RateLimiter | None = None) -> None:
        self.settings = settings
        self.limiter = limiter
        self.policy = RetryPolicy.from_settings(settings)
        self.stats = CallStats()
        self._lock = threading.Lock()
        self._token = settings.access_token.get_secret_value() if settings.access_token else ""
        if not self._token and not self.can_refresh:  # never an anonymous call to the public API host
            raise ConfigError(
                "HubSpot credentials are missing: set CRMSYNC_HUBSPOT_ACCESS_TOKEN (a private-app "
                "token), or CRMSYNC_HUBSPOT_CLIENT_ID, CRMSYNC_HUBSPOT_CLIENT_SECRET and "
                "CRMSYNC_HUBSPOT_REFRESH_TOKEN"
            )
        self._generation = 0
        self._apis = self._build(self._token)
        #: HubSpot's clock minus ours (seconds), from the last answer's ``Date`` header; None until one
        self.server_offset_s: float | None = None

    def _build(self, token: str) -> _Apis:
        base = self.settings.base_url.rstrip("/")
        # No urllib3 retries: its default Retry would sleep on a GET 429's Retry-After behind our back.
        no_retry = Retry(total=0, respect_retry_after_header=False, raise_on_status=False)
        with _logger_levels_kept():
            client = HubSpot(access_token=token, host=base, base_url=base, retry=no_retry)
            return _Apis(client, self.settings.request_timeout_s)

    @property
    def can_refresh(self) -> bool:
        s = self.settings
        return bool(s.refresh_token and s.client_id and s.client_secret)

    def call(self, op: Op, *, search: bool = False) -> Answer:
        """One logical call: retried per the policy, with at most one token refresh. A 401 on the attempt
        after a successful refresh means the new token is refused too: that is FatalError, not a loop."""
        state = _CallState()
        return self.policy.run(lambda: self._once(op, search, state), on_retry=self._note_retry)

    def _note_retry(self, exc: BaseException) -> None:
        with self._lock:
            self.stats.retries[error_reason(exc)] += 1

    def take_retries(self) -> dict[str, int]:
        """The retries counted since the last take (by reason), and start counting afresh."""
        with self._lock:
            taken, self.stats.retries = dict(self.stats.retries), Counter()
        return taken

    def _once(self, op: Op, search: bool, state: _CallState) -> Answer:
        ticket: str | None = None
        if self.limiter is not None:
            try:
                ticket = self.limiter.acquire(search=search)
            except TimeoutError as exc:  # a limiter that does not raise CrmError itself
                raise classify(exc) from exc
        with self._lock:
            apis, generation = self._apis, self._generation
        self.stats.calls += 1
        self.stats.searches += int(search)
        try:
            resp = op(apis)
            try:
                # With _preload_content=False the body is read here, so a connection dropped
                # mid-body surfaces inside this try and is classified like any transport failure.
                data = resp.data
                headers = {str(k): str(v) for k, v in resp.headers.items()}
                status = int(resp.status)
            finally:
                resp.release_conn()
        except Exception as exc:
            if self.limiter is not None:  # answered (or failed): the call counts from now, not in flight
                exc_headers = getattr(exc, "headers", None) or {}
                self.limiter.release(ticket, {str(k): str(v) for k, v in exc_headers.items()})
            err = classify(exc, can_refresh=self.can_refresh)  # re-raises a task's time limit
            if isinstance(err, RetriableError):
                self.stats.retried += 1
                self.stats.throttled += int(err.status == 429)
            if isinstance(err, SessionExpiredError):
                if state.refreshed:
                    raise FatalError(
                        f"HubSpot refused the refreshed access token: {err}", code=err.code, status=err.status
                    ) from exc
                self._refresh(generation)
                state.refreshed = True
                raise RetriableError("access token refreshed; repeating the call", wait_seconds=0.0) from exc
            raise err from exc
        if self.limiter is not None:
            self.limiter.release(ticket, headers)
        self._note_server_clock(headers)
        return Answer(status, json.loads(data) if data else None, headers)

    def _note_server_clock(self, headers: Mapping[str, str]) -> None:
        """How far HubSpot's clock is from ours, from the answer's ``Date`` (RFC 9110 §6.6.1: whole
        seconds, so the estimate of HubSpot's "now" is up to a second early, never late)."""
        offset = offset_from_headers(headers, time.time())
        if offset is not None:
            self.server_offset_s = offset

    def _refresh(self, failed_generation: int) -> None:
        """Refresh the OAuth token once per expiry, shared by every thread using this transport."""
        with self._lock:
            if self._generation != failed_generation:
                return  # someone else already refreshed while our call was in flight
            if not self.can_refresh:
                raise FatalError("HubSpot access token expired and no refresh token is configured")
            s = self.settings
            assert s.client_secret is not None and s.refresh_token is not None
            try:
                resp = self._apis.tokens.create(
                    grant_type="refresh_token",
                    client_id=s.client_id,
                    client_secret=s.client_secret.get_secret_value(),
                    refresh_token=s.refresh_token.get_secret_value(),
                    **self._apis.kw,
                )
                doc = json.loads(resp.data)
            except Exception as exc:
                err = classify(exc)
                raise FatalError(
                    f"HubSpot token refresh failed: {err}", code=err.code, status=err.status
                ) from exc
            self._token = str(doc["access_token"])
            self._apis = self._build(self._token)
            self._generation += 1
            self.stats.refreshes += 1
            log.info(
                "HubSpot access token refreshed (generation %d, expires in %s s)",
                self._generation,
                doc.get("expires_in"),
            )
