"""Heavy queries time out (QUERY_TIMEOUT) and the change reader narrows its SystemModstamp window
instead of sending the same query again; request limits as REST answers and SOAP faults."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sandbox.salesforce.server import SalesforceSandbox
from worker.crm.salesforce import SalesforceAdapter, SalesforceSettings, Watermark
from worker.errors import FatalError

pytestmark = pytest.mark.integration
Settings = Callable[..., SalesforceSettings]


def _spread_leads(sandbox: SalesforceSandbox, n: int, days: int) -> list[str]:
    """``n`` leads whose SystemModstamps spread evenly over the last ``days`` days."""
    org = sandbox.org
    now = org.now_ms()
    step = days * 86_400_000 // n
    return [
        org.create_raw("Lead", {"LastName": f"L{i}", "Company": "Acme"}, org.admin_id, now - (n - i) * step)
        for i in range(n)
    ]


def test_a_query_over_too_many_rows_times_out(sf_sandbox: SalesforceSandbox, sf_client: Salesforce) -> None:
    _spread_leads(sf_sandbox, 30, 1)
    sf_sandbox.org.query_timeout_rows = 20
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf_client.query("SELECT Id FROM Lead")
    assert info.value.content == [
        {"message": "Your query request was running for too long.", "errorCode": "QUERY_TIMEOUT"}
    ]
    assert sf_client.query("SELECT Id FROM Lead LIMIT 5")["totalSize"] == 5


def test_changes_narrow_the_window_instead_of_repeating_the_query(
    sf_sandbox: SalesforceSandbox, sf_settings: Settings
) -> None:
    ids = _spread_leads(sf_sandbox, 400, 40)
    sf_sandbox.org.query_timeout_rows = 150
    adapter = SalesforceAdapter(sf_settings(lookback_seconds=0, retry_attempts=5))
    start = Watermark(dt.datetime.now(dt.UTC) - dt.timedelta(days=41))
    pages = list(adapter.changes("Lead", start, ["LastName"]))
    read = [r["Id"] for p in pages for r in p.records]
    assert read == ids  # every lead once, in SystemModstamp order
    assert pages[-1].watermark.modstamp >= max(
        dt.datetime.fromisoformat(r["SystemModstamp"].replace("+0000", "+00:00"))
        for p in pages
        for r in p.records
    )
    # halving, then widening: a handful of queries (the first one timed out once, not retry_attempts times)
    assert adapter.calls <= 10, adapter.calls  # 9 when written: the token, 2 timeouts, 6 windows


def test_a_one_second_window_that_still_times_out_is_fatal(
    sf_sandbox: SalesforceSandbox, sf_settings: Settings
) -> None:
    org = sf_sandbox.org
    at = org.now_ms() - 3_600_000
    for i in range(30):
        org.create_raw("Lead", {"LastName": f"L{i}", "Company": "Acme"}, org.admin_id, at)  # one second
    org.query_timeout_rows = 10
    adapter = SalesforceAdapter(sf_settings(lookback_seconds=0))
    with pytest.raises(FatalError) as info:
        list(
            adapter.changes("Lead", Watermark(dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)), ["LastName"])
        )
    assert info.value.code == "QUERY_TIMEOUT"
