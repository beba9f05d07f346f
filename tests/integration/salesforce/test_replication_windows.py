"""``updated/`` and ``deleted/`` windows as Salesforce bounds them, and the adapter's recovery from a
cursor the org can no longer serve (sources in ``sandbox.salesforce.models``: 30-day start bound, more
than a minute between start and end, 15-day delete-log retention and ``earliestDateAvailable``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sandbox.salesforce.server import SalesforceSandbox
from worker.crm.salesforce import SalesforceAdapter

pytestmark = pytest.mark.integration
MakeLead = Callable[..., str]
DAY_MS = 86_400_000


def _code(call: Callable[[], object]) -> str:
    with pytest.raises(SalesforceMalformedRequest) as info:
        call()
    return str(info.value.content[0]["errorCode"])


def test_windows_out_of_bounds_are_invalid_replication_date(sf_client: Salesforce) -> None:
    now = dt.datetime.now(dt.UTC)
    for resource in (sf_client.Lead.updated, sf_client.Lead.deleted):
        assert _code(lambda r=resource: r(now - dt.timedelta(days=31), now)) == "INVALID_REPLICATION_DATE"
        assert _code(lambda r=resource: r(now, now - dt.timedelta(minutes=5))) == "INVALID_REPLICATION_DATE"
        assert _code(lambda r=resource: r(now - dt.timedelta(seconds=59), now)) == "INVALID_REPLICATION_DATE"
        resource(now - dt.timedelta(days=29), now)  # inside the bounds


def test_deletions_older_than_15_days_leave_the_log(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce, make_lead: MakeLead
) -> None:
    org = sf_sandbox.org
    old, recent = make_lead(), make_lead()
    org.delete("Lead", old, org.admin_id)
    deleted_at = org.now_ms()
    org.clock_offset_ms = 16 * DAY_MS  # sixteen days later…
    org.delete("Lead", recent, org.admin_id)
    now = dt.datetime.fromtimestamp(org.now_ms() / 1000, dt.UTC)
    answer = sf_client.Lead.deleted(now - dt.timedelta(days=20), now + dt.timedelta(minutes=2))
    assert [r["id"] for r in answer["deletedRecords"]] == [recent]
    earliest = dt.datetime.strptime(answer["earliestDateAvailable"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert int(earliest.timestamp() * 1000) == deleted_at


def test_the_adapter_never_sends_an_invalid_window(
    sf_sandbox: SalesforceSandbox, sf_adapter: SalesforceAdapter, make_lead: MakeLead
) -> None:
    lead = make_lead()
    sf_sandbox.org.delete("Lead", lead, sf_sandbox.org.admin_id)
    now = dt.datetime.now(dt.UTC)
    same_minute = sf_adapter.deleted_since("Lead", now, now)  # would be a zero-length window
    assert same_minute.gap is False
    old = sf_adapter.deleted_since("Lead", now - dt.timedelta(days=45))
    assert old.gap is True  # deletions between 45 and 30 days ago can no longer be listed
    assert sf_adapter.calls == 1 + 2  # the token, two accepted calls


def test_a_purged_delete_log_is_a_gap_recovered_by_a_full_re_read(
    sf_sandbox: SalesforceSandbox, sf_adapter: SalesforceAdapter, make_lead: MakeLead
) -> None:
    org = sf_sandbox.org
    kept, gone = make_lead(), make_lead()
    cursor = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    org.delete("Lead", gone, org.admin_id)
    org.clock_offset_ms = 16 * DAY_MS  # the worker was stopped for 16 days; the org purged its log
    result = sf_adapter.deleted_since("Lead", cursor)
    assert result.gap is True and result.records == []
    assert sf_adapter.missing_ids("Lead", [kept, gone, "not-an-id"]) == [gone, "not-an-id"]


def test_a_window_the_org_refuses_is_a_gap_not_a_crash(
    sf_sandbox: SalesforceSandbox, sf_adapter: SalesforceAdapter
) -> None:
    sf_sandbox.org.clock_offset_ms = 40 * DAY_MS  # the org's clock says the cursor is 40 days old
    result = sf_adapter.deleted_since("Lead", dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    assert result.gap is True and result.records == []
