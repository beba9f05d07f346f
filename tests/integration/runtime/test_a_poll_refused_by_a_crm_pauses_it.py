"""A poll whose CRM refuses us for good (here: HubSpot's access token expired and the refresh is refused)
pauses that CRM for ``CRMSYNC_SYNC_FATAL_PAUSE_S`` with the reason, as the sync service does, instead
of raising out of the task: the next polls make no call (nor a refresh) until the pause expires.
Found by ``tests/faults/test_an_expired_token_whose_refresh_fails_pauses_then_resumes.py``: every poll
retried the refresh and failed with a traceback, and nothing paused."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from sandbox.hubspot.models import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.integration.sandboxes import hs_settings as hubspot_settings
from worker import tasks
from worker.settings import Settings
from worker.sync.settings import SyncSettings

pytestmark = pytest.mark.integration


def test_a_failed_token_refresh_pauses_hubspot_polls(
    boxes: tuple[SalesforceSandbox, HubSpotSandbox],
    redis_client: Any,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hs_box = boxes[1]
    access, refresh = hs_box.issue_oauth_tokens(ttl_s=60)
    hs_box.advance_clock(61_000)  # the access token expired: 401 EXPIRED_AUTHENTICATION
    settings = Settings(redis_url=redis_url)  # type: ignore[call-arg]
    settings.__dict__["sync_settings"] = SyncSettings(fatal_pause_s=60)
    settings.__dict__["hubspot_settings"] = hubspot_settings(
        hs_box,
        access_token=SecretStr(access),
        client_id=DEFAULT_CLIENT_ID,
        client_secret=SecretStr(DEFAULT_CLIENT_SECRET),
        refresh_token=SecretStr(refresh),
    )
    monkeypatch.setattr(tasks, "_runtime", tasks.Runtime(settings))
    hs_box.arm_fault(path_prefix="/oauth/v1/token", status=503, count=5)

    first = tasks.poll_hubspot.apply()
    assert first.successful() and first.result is None, first.traceback
    reason = redis_client.get("crmsync:pause:hubspot")
    assert reason is not None and b"refresh failed" in reason, reason
    assert 0 < redis_client.pttl("crmsync:pause:hubspot") <= 60_000

    second = tasks.poll_hubspot.apply()
    assert second.result["paused"], second.result
    assert len(hs_box.backend.faults) == 1 and hs_box.backend.faults[0]["count"] == 4  # no second refresh
