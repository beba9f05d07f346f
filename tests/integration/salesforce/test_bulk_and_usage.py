"""Bulk 2.0 reads go through the adapter's call path step by step (finding 2); API usage readings are
keyed by org id (finding 7) and go stale in the shared store too (finding 6)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from sandbox.salesforce.server import SalesforceSandbox
from worker.crm.salesforce import SalesforceAdapter, SalesforceSettings
from worker.crm.salesforce.usage import ApiBudget, Usage
from worker.errors import QuotaExhaustedError

pytestmark = pytest.mark.integration
Settings = Callable[..., SalesforceSettings]
Q = "SELECT Id, Email FROM Lead"


def _leads(sf_sandbox: SalesforceSandbox, n: int) -> list[str]:
    org = sf_sandbox.org
    return [
        org.create_raw("Lead", {"LastName": f"L{i}", "Company": "A", "Email": f"l{i}@x.io"}, org.admin_id)
        for i in range(n)
    ]


def test_bulk_steps_are_counted_polled_and_paged(
    sf_sandbox: SalesforceSandbox, sf_settings: Settings
) -> None:
    ids = _leads(sf_sandbox, 5)
    sf_sandbox.org.bulk_job_polls = 2  # InProgress twice, then JobComplete
    waits: list[float] = []
    adapter = SalesforceAdapter(sf_settings(bulk_poll_seconds=0.5), sleep=waits.append)
    adapter._field_types("Lead")  # describe first, so only bulk calls are counted below
    used, calls = sf_sandbox.org.api_used, adapter.calls
    pages = list(adapter.bulk_pages(Q, "Lead", max_records=2))
    assert sorted(r["Id"] for p in pages for r in p) == sorted(ids) and [len(p) for p in pages] == [2, 2, 1]
    assert waits == [0.5, 1.0]  # two waits between the three polls, doubling
    steps = 1 + 3 + 3  # create, three polls, three result pages
    assert sf_sandbox.org.api_used - used == steps and adapter.calls - calls == steps


def test_bulk_transient_failures_are_retried(sf_sandbox: SalesforceSandbox, sf_settings: Settings) -> None:
    ids = _leads(sf_sandbox, 3)
    adapter = SalesforceAdapter(sf_settings())
    sf_sandbox.add_fault("error", path="/jobs/query$", method="POST", error_code="SERVER_UNAVAILABLE")
    sf_sandbox.add_fault("error", path="/results$", method="GET", error_code="SERVER_UNAVAILABLE")
    rows = [r for p in adapter.bulk_pages(Q, "Lead") for r in p]
    assert sorted(r["Id"] for r in rows) == sorted(ids) and not sf_sandbox.org.faults


def test_bulk_session_expiry_between_pages_relogs_and_continues(
    sf_sandbox: SalesforceSandbox, sf_settings: Settings
) -> None:
    ids = _leads(sf_sandbox, 4)
    adapter = SalesforceAdapter(sf_settings())
    seen: list[str] = []
    logins = None
    for page in adapter.bulk_pages(Q, "Lead", max_records=2):
        seen += [r["Id"] for r in page]
        if logins is None:
            logins = sf_sandbox.org.login_count
            sf_sandbox.org.expire_sessions()
    assert sorted(seen) == sorted(ids)
    assert sf_sandbox.org.login_count == (logins or 0) + 1


def test_bulk_stops_when_the_share_is_used_up_mid_read(
    sf_sandbox: SalesforceSandbox, sf_settings: Settings
) -> None:
    _leads(sf_sandbox, 6)
    adapter = SalesforceAdapter(sf_settings(max_api_share=0.5))
    adapter._field_types("Lead")
    org = sf_sandbox.org
    org.api_max = 2 * (org.api_used + 3)  # share ends after create, poll and the first page
    pages = adapter.bulk_pages(Q, "Lead", max_records=1)
    assert len(next(pages)) == 1
    with pytest.raises(QuotaExhaustedError) as info:
        next(pages)
    assert info.value.code == "API_SHARE_EXHAUSTED" and org.api_used == org.api_max // 2


@pytest.mark.parametrize("mode", ["soap", "oauth_password", "client_credentials"])
def test_usage_is_keyed_by_org_id(sf_sandbox: SalesforceSandbox, sf_settings: Settings, mode: str) -> None:
    adapter = SalesforceAdapter(sf_settings(auth_mode=mode, domain="sandbox.my"))
    list(adapter.query("SELECT Id FROM Lead"))
    assert adapter.budget.org == sf_sandbox.org.org_id[:15]


def test_shared_refusal_goes_stale_after_recheck_seconds(redis_client: object) -> None:
    from worker.state.api_usage import ApiUsageStore

    store = ApiUsageStore(redis_client)
    worker = ApiBudget(0.5, recheck_seconds=0.3, store=store, org="00D000000000001")
    worker.observe(Usage(50, 100))
    other = ApiBudget(0.5, recheck_seconds=0.3, store=store, org="00D000000000001")
    for budget in (worker, other):
        with pytest.raises(QuotaExhaustedError):
            budget.check()
    time.sleep(0.35)
    worker.check()  # its own reading and the shared one are both stale: one probe call may go
    other.check()
