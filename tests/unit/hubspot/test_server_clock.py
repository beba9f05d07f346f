"""HubSpot's "now" comes from the answers' ``Date`` header: read windows and first cursors taken from a
worker clock minutes off hid or skipped the last minutes' changes (found by
tests/faults/test_a_worker_with_a_skewed_clock.py). No network: the transport is fed headers."""

from __future__ import annotations

import time
from email.utils import formatdate

from pydantic import SecretStr

from worker.crm.hubspot.adapter import HubSpotAdapter
from worker.crm.hubspot.settings import HubSpotSettings

NOW = 1_796_000_000.0


def _adapter() -> HubSpotAdapter:
    settings = HubSpotSettings(access_token=SecretStr("pat-na1-unit"), base_url="http://127.0.0.1:9")
    return HubSpotAdapter(settings, clock=lambda: NOW)


def test_a_worker_clock_five_minutes_behind_is_corrected_by_the_date_header() -> None:
    hs = _adapter()
    hs.transport._note_server_clock({"Date": formatdate(time.time() + 300, usegmt=True)})
    assert abs(hs.server_now() - (NOW + 300)) <= 2


def test_clocks_within_the_date_headers_resolution_are_taken_as_agreeing() -> None:
    hs = _adapter()
    hs.transport._note_server_clock({"date": formatdate(time.time() - 1, usegmt=True)})
    assert hs.server_now() == NOW


def test_a_malformed_date_is_ignored() -> None:
    hs = _adapter()
    hs.transport.server_offset_s = 0.0
    hs.transport._note_server_clock({"Date": "yesterday"})
    assert hs.transport.server_offset_s == 0.0
