"""Promise: nothing lost and nothing spinning when HubSpot's OAuth access token expires mid-run and the
refresh fails a few times before it works.

The worker runs on OAuth (client id, secret, refresh token) with access tokens that live 15 s, so they
expire while it works; HubSpot's token endpoint then answers 503 to the next three refreshes. HubSpot's
work pauses with the refresh failure as its reason (``crmsync:pause:hubspot``, for
``CRMSYNC_SYNC_FATAL_PAUSE_S``), nobody is dead-lettered, the token endpoint is not hammered meanwhile
(each pause costs at most one refresh per worker process), and once a refresh succeeds the daemon
carries on by itself and converges."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from sandbox.hubspot.models import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.e2e.conftest import Service, wait_until
from tests.faults.conftest import Secrets, Workload, assert_converged, sf_api, start_daemon
from worker.state.deadletters import DeadLetterStore

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
TOKEN_TTL_S, PAUSE_S, FAILURES = 15, 6, 3
TOKEN_PATH = "/oauth/v1/token"


class Refreshes:
    """Counts the refreshes HubSpot's token endpoint handled (the 503s never reach it)."""

    def __init__(self, box: HubSpotSandbox) -> None:
        self.count = 0
        self._lock = threading.Lock()
        auth = box.backend.auth
        real = auth.refresh

        def counted(form: dict[str, str], portal_id: int) -> dict[str, Any]:
            with self._lock:
                self.count += 1
            return real(form, portal_id)

        auth.refresh = counted  # type: ignore[method-assign]


def test_hubspot_work_pauses_while_the_refresh_fails_and_resumes_when_it_works(
    faults: Service,
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    redis_client: Any,
    run_secrets: Secrets,
) -> None:
    started = time.monotonic()
    hs_box.backend.auth.access_ttl_s = TOKEN_TTL_S
    access, refresh = hs_box.issue_oauth_tokens(TOKEN_TTL_S)
    refreshes = Refreshes(hs_box)
    env = {
        "CRMSYNC_HUBSPOT_ACCESS_TOKEN": access,
        "CRMSYNC_HUBSPOT_CLIENT_ID": DEFAULT_CLIENT_ID,
        "CRMSYNC_HUBSPOT_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
        "CRMSYNC_HUBSPOT_REFRESH_TOKEN": refresh,
        "CRMSYNC_SYNC_FATAL_PAUSE_S": str(PAUSE_S),
    }
    faults.env.update(env)
    start_daemon(faults, redis_client)
    work = Workload(sf_api(sf_box), hs_box.client())
    work.make(leads=6, contacts=3)
    hs_box.arm_fault(path_prefix=TOKEN_PATH, status=503, count=FAILURES)
    armed = time.monotonic()
    why = wait_until("the HubSpot pause", lambda: redis_client.get("crmsync:pause:hubspot"), timeout=90)
    assert b"refresh failed" in why, why
    wait_until("every failing refresh tried", lambda: not hs_box.backend.faults, timeout=120)
    # the failures are a pause apart, not one per poll (polls run every second here)
    assert time.monotonic() - armed >= PAUSE_S
    assert DeadLetterStore(redis_client).count() == 0
    assert_converged(sf_box, hs_box, redis_client, work)
    assert refreshes.count >= 1, "no refresh succeeded"
    # at most one refresh per worker process (two) per token lifetime: no spinning
    assert refreshes.count <= 2 * ((time.monotonic() - started) / TOKEN_TTL_S + 2), refreshes.count
    run_secrets.values.update(
        {"hubspot refresh token": refresh, "hubspot client secret": DEFAULT_CLIENT_SECRET}
    )
    run_secrets.values.update(
        {f"hubspot access token {t[:8]}…": t for t in hs_box.backend.auth.access_tokens}
    )
