"""The worker reads Salesforce's clock from the answers' ``Date`` (the sandbox's moves with its
``clock_offset_ms``): a first change cursor starts at Salesforce's "now", so an edit made right after
start is captured even with no lookback, and windows narrowed after a QUERY_TIMEOUT run up to
Salesforce's "now", not the worker's."""

from __future__ import annotations

import datetime as dt
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import requests

from sandbox.salesforce.server import SalesforceSandbox
from worker.capture import SalesforceCapture
from worker.crm.salesforce import SalesforceAdapter, Watermark
from worker.crm.salesforce.cursor import parse_sf_datetime
from worker.state.cursors import CursorStore
from worker.state.dirty import DirtySet

pytestmark = pytest.mark.integration
MINUTE_MS = 60_000


def _org_now(sf_sandbox: SalesforceSandbox) -> dt.datetime:
    return dt.datetime.fromtimestamp(sf_sandbox.org.now_ms() / 1000, dt.UTC)


def test_the_sandbox_date_header_shows_the_org_clock(sf_sandbox: SalesforceSandbox) -> None:
    sf_sandbox.org.clock_offset_ms = -10 * MINUTE_MS
    answer = requests.get(f"{sf_sandbox.instance_url}/services/data/", verify=sf_sandbox.ca_path, timeout=10)
    dates = [v for k, v in answer.raw.headers.items() if k.lower() == "date"]
    assert len(dates) == 1  # ours, not uvicorn's as well
    assert abs((parsedate_to_datetime(dates[0]) - _org_now(sf_sandbox)).total_seconds()) <= 2


def test_a_first_cursor_starts_at_salesforces_now_and_catches_an_edit_right_after(
    sf_sandbox: SalesforceSandbox, sf_settings: Any, redis_client: Any
) -> None:
    sf_sandbox.org.clock_offset_ms = -10 * MINUTE_MS  # Salesforce ten minutes behind the worker
    sf = SalesforceAdapter(sf_settings(lookback_seconds=0))
    cursors, dirty = CursorStore(redis_client), DirtySet(redis_client, "salesforce")
    capture = SalesforceCapture(sf, cursors, dirty, related=())
    capture.poll()
    doc = cursors.get("salesforce", "Lead")
    assert doc is not None
    assert abs((parse_sf_datetime(doc["modstamp"]) - _org_now(sf_sandbox)).total_seconds()) <= 5
    org = sf_sandbox.org
    lead_id = org.create("Lead", {"LastName": "Hopper", "Company": "Navy"}, org.admin_id)
    capture.poll()
    assert dirty.members("Lead") == {lead_id}


def test_narrowed_windows_run_to_salesforces_now(
    sf_sandbox: SalesforceSandbox, sf_settings: Any, make_lead: Any
) -> None:
    org = sf_sandbox.org
    org.clock_offset_ms = 10 * MINUTE_MS  # Salesforce ten minutes ahead of the worker
    now_ms = org.now_ms()
    ids = [
        org.create_raw("Lead", {"LastName": f"L{i}", "Company": "Acme"}, org.admin_id, at_ms=now_ms - ago)
        for i, ago in enumerate((90_000, 30_000))  # both after the worker's "now"
    ]
    org.query_timeout_rows = 1  # any read of both at once times out: the reader narrows its window
    sf = SalesforceAdapter(sf_settings(lookback_seconds=0))
    start = Watermark(dt.datetime.fromtimestamp(now_ms / 1000, dt.UTC) - dt.timedelta(minutes=20))
    seen = [r["Id"] for page in sf.changes("Lead", start, [], allow_bulk=False) for r in page.records]
    assert seen == ids
