"""Salesforce's "now" comes from the answers' ``Date`` header, like HubSpot's: a first cursor, the
still-open second and the narrowed read windows after a QUERY_TIMEOUT are positions on Salesforce's
clock (``SystemModstamp``), not the worker's. No network: the adapter's response hook is fed answers."""

from __future__ import annotations

import datetime as dt
import time
from email.utils import formatdate

import requests

from worker.crm.clock import corrected
from worker.crm.salesforce.adapter import SalesforceAdapter, _narrower
from worker.crm.salesforce.settings import SalesforceSettings


def _adapter() -> SalesforceAdapter:
    settings = SalesforceSettings(
        consumer_key="unit-key", consumer_secret="unit-secret", domain="unit", login_url="https://127.0.0.1:9"
    )
    return SalesforceAdapter(settings)


def _answer(headers: dict[str, str]) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response.headers.update(headers)
    return response


def test_a_salesforce_clock_five_minutes_behind_the_worker_is_read_from_the_date_header() -> None:
    sf = _adapter()
    sf._on_response(_answer({"Date": formatdate(time.time() - 300, usegmt=True)}))
    behind = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=300)
    assert abs((sf.server_now() - behind).total_seconds()) <= 2


def test_a_malformed_or_missing_date_keeps_the_last_offset() -> None:
    sf = _adapter()
    sf._on_response(_answer({"date": formatdate(time.time() + 600, usegmt=True)}))
    sf._on_response(_answer({"Date": "yesterday"}))
    sf._on_response(_answer({}))
    assert sf.server_offset_s is not None and abs(sf.server_offset_s - 600) <= 2


def test_clocks_within_the_date_headers_resolution_agree() -> None:
    assert corrected(1000.0, 1.5) == 1000.0
    assert corrected(1000.0, None) == 1000.0
    assert corrected(1000.0, -300.0) == 700.0


def test_the_first_narrowed_window_halves_the_span_to_salesforces_now() -> None:
    sf_now = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    assert _narrower(None, sf_now - dt.timedelta(minutes=20), sf_now) == dt.timedelta(minutes=10)
    assert _narrower(dt.timedelta(minutes=10), sf_now, sf_now) == dt.timedelta(minutes=5)
