"""Sandbox error bodies held against bodies recorded from HubSpot in public sources (``snapshots/``)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from urllib3.util.retry import Retry

from sandbox.hubspot.limits import RateLimitTier
from sandbox.hubspot.server import HubSpotSandbox

pytestmark = pytest.mark.integration
SNAPSHOTS = Path(__file__).parent / "snapshots"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def normalise(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, str):
        if UUID.match(value):
            return "<uuid>"
        if TIMESTAMP.match(value):
            return "<timestamp>"
        return re.sub(r"(Existing ID: |expired )\d+", r"\1<n>", value)
    return value


def provoke(sb: HubSpotSandbox, name: str) -> Any:
    no_retry = Retry(total=0, respect_retry_after_header=False)
    hs = sb.client(retry=no_retry)
    actions: dict[str, Callable[[], Any]] = {
        "401_invalid_authentication": sb.client(access_token="nope").crm.contacts.basic_api.get_page,
        "409_conflict": lambda: [
            hs.crm.contacts.basic_api.create({"properties": {"email": "s@x.com"}}) for _ in "ab"
        ],
        "400_batch_cap": lambda: hs.crm.contacts.batch_api.read(
            {"inputs": [{"id": str(i)} for i in range(101)]}
        ),
    }
    if name == "401_expired_authentication":
        access, _ = sb.issue_oauth_tokens(ttl_s=1)
        sb.advance_clock(5_000)
        actions[name] = sb.client(access_token=access, retry=no_retry).crm.contacts.basic_api.get_page
    if name == "429_daily":
        sb.configure(tier=RateLimitTier(per_ten_seconds=None, daily=0, search_per_second=None))
        actions[name] = hs.crm.contacts.basic_api.get_page
    with pytest.raises(Exception) as info:
        actions[name]()
    return json.loads(info.value.body)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(p.stem for p in SNAPSHOTS.glob("*.json")))
def test_error_body_matches_recorded_snapshot(sandbox: HubSpotSandbox, name: str) -> None:
    expected = json.loads((SNAPSHOTS / f"{name}.json").read_text())
    assert normalise(provoke(sandbox, name)) == expected
