"""The worker's Salesforce adapter against the sandbox over HTTPS (real simple-salesforce underneath)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import pytest

from sandbox.salesforce.server import SalesforceSandbox
from worker.crm.salesforce import SalesforceAdapter, SalesforceSettings, Watermark, queries
from worker.errors import FatalError, QuotaExhaustedError, RecordRejectedError, RetriableError

pytestmark = pytest.mark.integration
Settings = Callable[..., SalesforceSettings]
MakeLead = Callable[..., str]


def _bulk_leads(sf_sandbox: SalesforceSandbox, n: int, at_ms: int | None = None) -> list[str]:
    org = sf_sandbox.org
    return [
        org.create_raw(
            "Lead",
            {"LastName": f"L{i}", "Company": "Acme", "Email": f"l{i}@example.com"},
            org.admin_id,
            at_ms,
        )
        for i in range(n)
    ]


def test_changes_ties_on_modstamp_are_never_skipped(
    sf_sandbox: SalesforceSandbox, sf_settings: Settings
) -> None:
    at = (sf_sandbox.org.now_ms() - 60_000) // 1000 * 1000
    ids = _bulk_leads(sf_sandbox, 450, at_ms=at)  # one bulk update: every row has the same SystemModstamp
    adapter = SalesforceAdapter(sf_settings(query_batch_size=200, lookback_seconds=0))
    pages = adapter.changes("Lead", Watermark(), ["Email"])
    first = next(pages)
    assert len(first.records) == 200
    # The worker checkpoints after page one and stops; the next poll resumes from the compound cursor.
    resumed = [r["Id"] for p in adapter.changes("Lead", first.watermark, ["Email"]) for r in p.records]
    seen = [r["Id"] for r in first.records] + resumed
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))


def test_changes_use_locators_and_report_watermark(
    sf_sandbox: SalesforceSandbox, sf_settings: Settings
) -> None:
    ids = _bulk_leads(sf_sandbox, 4500)
    adapter = SalesforceAdapter(sf_settings(lookback_seconds=0))
    pages = list(adapter.changes("Lead", Watermark(), ["Email", "Status"]))
    assert [len(p.records) for p in pages] == [2000, 2000, 500]
    assert adapter.calls == 1 + 3  # login, three pages
    last = max((r["SystemModstamp"], r["Id"]) for p in pages for r in p.records)
    assert pages[-1].watermark.record_id == last[1]
    assert {r["Id"] for p in pages for r in p.records} == set(ids)


def test_late_commit_is_caught_by_lookback_only(
    sf_sandbox: SalesforceSandbox, sf_settings: Settings, make_lead: MakeLead
) -> None:
    late, other = make_lead(), make_lead()
    strict = SalesforceAdapter(sf_settings(lookback_seconds=0))
    mark = list(strict.changes("Lead", Watermark(), ["Status"]))[-1].watermark
    sf_sandbox.org.late_commit("Lead", late, {"Status": "Working"}, seconds_ago=30)
    assert [r["Id"] for p in strict.changes("Lead", mark, ["Status"]) for r in p.records] == []
    lenient = SalesforceAdapter(sf_settings(lookback_seconds=120))
    rows = [r for p in lenient.changes("Lead", mark, ["Status"]) for r in p.records]
    assert {r["Id"] for r in rows} == {late, other}
    assert next(r for r in rows if r["Id"] == late)["Status"] == "Working"


def test_read_by_ids_in_chunks_with_escaping(
    sf_sandbox: SalesforceSandbox, sf_settings: Settings, make_lead: MakeLead
) -> None:
    ids = _bulk_leads(sf_sandbox, 250)
    adapter = SalesforceAdapter(sf_settings(id_chunk_size=100))
    rows = adapter.read_by_ids("Lead", ids, ["Email"])
    assert sorted(r["Id"] for r in rows) == sorted(ids)
    assert adapter.calls == 1 + 3
    target = make_lead(Email="o'brien@example.com")
    soql = queries.select(["Id", "Email"], "Lead", "Email = {}", ["o'brien@example.com"])
    assert [r["Id"] for r in adapter.query(soql)] == [target]


def test_related_facts_for_leads_and_contacts(
    sf_sandbox: SalesforceSandbox, sf_adapter: SalesforceAdapter
) -> None:
    org, admin = sf_sandbox.org, sf_sandbox.org.admin_id
    lead = org.create("Lead", {"LastName": "Call", "Company": "Acme"}, admin)
    org.create(
        "Task", {"WhoId": lead, "TaskSubtype": "Call", "Status": "Completed", "Subject": "Call"}, admin
    )
    org.create(
        "Task", {"WhoId": lead, "TaskSubtype": "Email", "Status": "Completed", "Subject": "Mail"}, admin
    )
    org.create("Event", {"WhoId": lead, "Subject": "Demo", "StartDateTime": "2026-12-01T10:00:00Z"}, admin)
    converted = org.create("Lead", {"LastName": "Won", "Company": "Globex"}, admin)
    result = org.convert_lead(converted, "Converted", admin)
    org.update("Opportunity", result["opportunityId"], {"StageName": "Closed Won"}, admin)
    org.update("Account", result["accountId"], {"Type": "Customer"}, admin)

    facts = sf_adapter.related_facts("Lead", [lead, converted])
    assert sf_adapter.calls == 2  # login + one query for both leads
    plain = facts.records[lead]
    assert [t["Subject"] if "Subject" in t else t["TaskSubtype"] for t in plain["Tasks"]["records"]] == [
        "Call"
    ]
    assert plain["Events"]["totalSize"] == 1 and plain["IsConverted"] is False
    won = facts.records[converted]
    assert won["ConvertedOpportunity"]["IsWon"] is True and won["ConvertedAccount"]["Type"] == "Customer"

    contact_facts = sf_adapter.related_facts("Contact", [result["contactId"]])
    contact = contact_facts.records[result["contactId"]]
    assert contact["Account"]["Type"] == "Customer"
    role = contact["OpportunityContactRoles"]["records"][0]
    assert role["Opportunity"]["StageName"] == "Closed Won" and role["IsPrimary"] is True
    assert [lead["Id"] for lead in contact_facts.converted_leads[result["contactId"]]] == [converted]


def test_updates_in_batches_with_mixed_failures(
    sf_sandbox: SalesforceSandbox, sf_adapter: SalesforceAdapter
) -> None:
    ids = _bulk_leads(sf_sandbox, 450)
    converted = ids[300]
    sf_sandbox.org.convert_lead(converted, "Converted", sf_sandbox.org.admin_id)
    changes = [(i, {"Status": "Working"}) for i in ids]
    changes[5] = (ids[5], {"Status": "Bogus"})
    changes[210] = (ids[210], {"Status": "Unqualified"})
    results = sf_adapter.update("Lead", changes).results
    assert sf_adapter.calls == 1 + 3  # login + ⌈450/200⌉
    assert [r.key for r in results] == ids
    failed = {ids.index(r.key): r.error for r in results if not r.ok}
    assert set(failed) == {5, 210, 300}
    assert all(isinstance(e, RecordRejectedError) for e in failed.values())
    assert (failed[5].code, failed[210].code, failed[300].code) == (
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "CANNOT_UPDATE_CONVERTED_LEAD",
    )
    assert results[300].id == converted
    assert sf_sandbox.org.get("Lead", ids[0])["Status"] == "Working"


def test_create_returns_ids_in_order(sf_adapter: SalesforceAdapter) -> None:
    results = sf_adapter.create(
        "Lead", [{"LastName": "A", "Company": "C"}, {"FirstName": "no last name"}]
    ).results
    assert results[0].ok and results[0].id is not None and results[0].id.startswith("00Q")
    assert (
        not results[1].ok
        and results[1].error is not None
        and results[1].error.code == "REQUIRED_FIELD_MISSING"
    )


def test_locked_record_is_resent_alone(
    sf_sandbox: SalesforceSandbox, sf_adapter: SalesforceAdapter, make_lead: MakeLead
) -> None:
    a, b = make_lead(), make_lead()
    sf_sandbox.add_fault("lock_records", record_ids=[b], times=1)
    results = sf_adapter.update("Lead", [(a, {"Status": "Working"}), (b, {"Status": "Working"})]).results
    assert all(r.ok for r in results)
    assert sf_adapter.calls == 1 + 2
    assert sf_sandbox.org.get("Lead", b)["Status"] == "Working"


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("error", {"error_code": "SERVER_UNAVAILABLE"}),
        ("error", {"error_code": "UNKNOWN_EXCEPTION"}),
        ("error", {"error_code": "UNABLE_TO_LOCK_ROW"}),
        ("error", {"error_code": "CONCURRENT_REQUEST_LIMIT_EXCEEDED"}),
        ("drop", {}),
        ("slow", {"delay": 0.6}),  # longer than the adapter's 0.3 s timeout below: a ReadTimeout
    ],
)
def test_transient_failures_are_retried(
    sf_sandbox: SalesforceSandbox,
    sf_settings: Settings,
    make_lead: MakeLead,
    kind: str,
    options: dict[str, object],
) -> None:
    lead = make_lead()
    adapter = SalesforceAdapter(sf_settings(timeout_seconds=0.3))
    adapter.connection.client()  # log in before counting
    times = 2 if kind != "slow" else 1
    sf_sandbox.add_fault(kind, path="/query", times=times, **options)
    used = sf_sandbox.org.api_used
    rows = adapter.read_by_ids("Lead", [lead], ["Status"])
    assert [r["Id"] for r in rows] == [lead]
    assert not sf_sandbox.org.faults
    assert (
        sf_sandbox.org.api_used - used == times + 1
    )  # each faulty attempt reached the server, then one more


def test_write_dropped_after_commit_is_retried_idempotently(
    sf_sandbox: SalesforceSandbox, sf_adapter: SalesforceAdapter, make_lead: MakeLead
) -> None:
    lead = make_lead()
    sf_sandbox.add_fault("drop_after", path="/composite/sobjects", times=1)
    results = sf_adapter.update("Lead", [(lead, {"Status": "Contacted"})]).results
    assert results[0].ok and sf_sandbox.org.get("Lead", lead)["Status"] == "Contacted"


def test_retries_give_up_with_retriable_error(sf_sandbox: SalesforceSandbox, sf_settings: Settings) -> None:
    adapter = SalesforceAdapter(sf_settings(retry_attempts=3))
    sf_sandbox.add_fault("error", path="/query", error_code="SERVER_UNAVAILABLE", times=10)
    with pytest.raises(RetriableError) as info:
        adapter.read_by_ids("Lead", ["00Q5g0000000001EAA"], ["Id"])
    assert info.value.status == 503
    assert adapter.calls == 1 + 3


def test_malformed_query_is_fatal_and_not_retried(sf_adapter: SalesforceAdapter) -> None:
    with pytest.raises(FatalError) as info:
        list(sf_adapter.query("SELECT Id FROM Lead WHERE"))
    assert info.value.code == "MALFORMED_QUERY"
    assert sf_adapter.calls == 2


def test_session_expiry_reauthenticates_once_across_threads(
    sf_sandbox: SalesforceSandbox, sf_adapter: SalesforceAdapter, make_lead: MakeLead
) -> None:
    lead = make_lead()
    sf_adapter.read_by_ids("Lead", [lead], ["Id"])
    logins = sf_sandbox.org.login_count
    sf_sandbox.org.expire_sessions()
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def work() -> None:
        try:
            barrier.wait()
            assert sf_adapter.read_by_ids("Lead", [lead], ["Id"])[0]["Id"] == lead
        except BaseException as exc:  # collected and re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sf_sandbox.org.login_count == logins + 1


def test_direct_session_mode_cannot_renew(sf_sandbox: SalesforceSandbox, sf_settings: Settings) -> None:
    adapter = SalesforceAdapter(
        sf_settings(
            auth_mode="session", session_id=sf_sandbox.new_session_id(), instance_url=sf_sandbox.instance_url
        )
    )
    assert adapter.read_by_ids("Lead", [], ["Id"]) == []
    list(adapter.query("SELECT Id FROM Lead"))
    sf_sandbox.org.expire_sessions()
    with pytest.raises(FatalError):
        list(adapter.query("SELECT Id FROM Lead"))


@pytest.mark.parametrize("mode", ["oauth_password", "client_credentials"])
def test_oauth_modes(
    sf_sandbox: SalesforceSandbox, sf_settings: Settings, mode: str, make_lead: MakeLead
) -> None:
    lead = make_lead()
    adapter = SalesforceAdapter(sf_settings(auth_mode=mode, domain="sandbox.my"))
    assert [r["Id"] for r in adapter.read_by_ids("Lead", [lead], ["Id"])] == [lead]


def test_daily_limit_exhausted_stops_without_retrying(
    sf_sandbox: SalesforceSandbox, sf_adapter: SalesforceAdapter
) -> None:
    sf_sandbox.org.api_used = sf_sandbox.org.api_max
    with pytest.raises(QuotaExhaustedError) as info:
        list(sf_adapter.query("SELECT Id FROM Lead"))
    assert info.value.code == "REQUEST_LIMIT_EXCEEDED"
    assert sf_adapter.calls == 2  # login + the refused call, no retry


def test_configured_share_of_allocation_is_respected(
    sf_sandbox: SalesforceSandbox, sf_settings: Settings
) -> None:
    sf_sandbox.org.api_max, sf_sandbox.org.api_used = 100, 48
    adapter = SalesforceAdapter(sf_settings(max_api_share=0.5))
    list(adapter.query("SELECT Id FROM Lead"))  # usage 49/100
    list(adapter.query("SELECT Id FROM Lead"))  # usage 50/100: our share is used up
    before = adapter.calls
    with pytest.raises(QuotaExhaustedError) as info:
        list(adapter.query("SELECT Id FROM Lead"))
    assert info.value.code == "API_SHARE_EXHAUSTED"
    assert adapter.calls == before  # refused locally, no request sent
    assert sf_sandbox.org.api_used == 50


def test_deleted_since(
    sf_sandbox: SalesforceSandbox, sf_adapter: SalesforceAdapter, make_lead: MakeLead
) -> None:
    lead = make_lead()
    sf_sandbox.org.delete("Lead", lead, sf_sandbox.org.admin_id)
    now = dt.datetime.now(dt.UTC)
    # The window is truncated to whole minutes, so the current minute is covered by a later poll.
    found = sf_adapter.deleted_since("Lead", now - dt.timedelta(hours=1), now + dt.timedelta(minutes=2))
    assert [r["id"] for r in found.records] == [lead]
    assert found.latest_covered <= now


def test_large_change_reads_switch_to_bulk_2(sf_sandbox: SalesforceSandbox, sf_settings: Settings) -> None:
    from sandbox.salesforce.responses import org_jobs

    ids = _bulk_leads(sf_sandbox, 1200)
    adapter = SalesforceAdapter(sf_settings(bulk_threshold=1000, lookback_seconds=0, query_batch_size=200))
    pages = list(adapter.changes("Lead", Watermark(), ["Email", "IsConverted"], with_facts=True))
    assert len(org_jobs(sf_sandbox.org)) == 1  # the first REST page showed totalSize > threshold
    rows = [r for p in pages for r in p.records]
    assert sorted(r["Id"] for r in rows) == sorted(ids) and len(rows) == len({r["Id"] for r in rows})
    bulk_row = pages[-1].records[0]
    assert bulk_row["IsConverted"] is False and bulk_row["SystemModstamp"].endswith(".000+0000")
    assert "Tasks" in bulk_row  # facts filled per bulk page
    assert pages[-1].watermark.record_id == max((r["SystemModstamp"], r["Id"]) for r in rows)[1]


def test_changes_with_facts_in_the_same_query(sf_sandbox: SalesforceSandbox, sf_settings: Settings) -> None:
    org, admin = sf_sandbox.org, sf_sandbox.org.admin_id
    lead = org.create("Lead", {"LastName": "Call", "Company": "Acme"}, admin)
    org.create("Task", {"WhoId": lead, "TaskSubtype": "Call", "Status": "Completed"}, admin)
    adapter = SalesforceAdapter(sf_settings(lookback_seconds=0))
    rows = [r for p in adapter.changes("Lead", Watermark(), ["Status"], with_facts=True) for r in p.records]
    assert rows[0]["Tasks"]["records"][0]["Status"] == "Completed" and rows[0]["ConvertedAccount"] is None
    assert adapter.calls == 1 + 1  # login, one page


def test_changes_resume_when_session_dies_mid_pagination(
    sf_sandbox: SalesforceSandbox, sf_settings: Settings
) -> None:
    ids = _bulk_leads(sf_sandbox, 700)
    adapter = SalesforceAdapter(sf_settings(query_batch_size=200, lookback_seconds=0))
    seen: list[str] = []
    logins = None
    for page in adapter.changes("Lead", Watermark(), ["Email"]):
        seen += [r["Id"] for r in page.records]
        if logins is None:
            logins = sf_sandbox.org.login_count
            sf_sandbox.org.expire_sessions()  # the open locator dies with the session
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))
    assert sf_sandbox.org.login_count == (logins or 0) + 1


def test_usage_reading_is_shared_through_redis(
    sf_sandbox: SalesforceSandbox, sf_settings: Settings, redis_client: object
) -> None:
    from worker.state.api_usage import ApiUsageStore

    store = ApiUsageStore(redis_client)
    sf_sandbox.org.api_max, sf_sandbox.org.api_used = 100, 49
    first = SalesforceAdapter(sf_settings(max_api_share=0.5), usage_store=store)
    list(first.query("SELECT Id FROM Lead"))  # usage 50/100 is now the shared reading
    fresh = SalesforceAdapter(sf_settings(max_api_share=0.5), usage_store=store)
    with pytest.raises(QuotaExhaustedError):
        list(fresh.query("SELECT Id FROM Lead"))
    # Readings are keyed by the org id, which the login tells; the login is the only request made
    # (login() does not count against the allocation) and the query is refused before it is sent.
    assert fresh.calls == 1 and sf_sandbox.org.api_used == 50


def test_share_refusal_is_rechecked_later(sf_sandbox: SalesforceSandbox, sf_settings: Settings) -> None:
    sf_sandbox.org.api_max, sf_sandbox.org.api_used = 100, 49
    adapter = SalesforceAdapter(sf_settings(max_api_share=0.5, api_share_recheck_seconds=0))
    list(adapter.query("SELECT Id FROM Lead"))  # 50/100
    sf_sandbox.org.api_used = 10  # the rolling window freed calls
    assert list(adapter.query("SELECT Id FROM Lead")) == []  # stale refusal re-probed, call allowed


def test_jwt_bearer_mode(sf_sandbox: SalesforceSandbox, sf_settings: Settings, make_lead: MakeLead) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    sf_sandbox.org.connected_apps["sandbox-consumer-key"]["jwt_public_key"] = key.public_key()
    lead = make_lead()
    adapter = SalesforceAdapter(
        sf_settings(auth_mode="jwt", private_key=pem, password=None, security_token=None)
    )
    assert [r["Id"] for r in adapter.read_by_ids("Lead", [lead], ["Id"])] == [lead]
    assert pem not in repr(adapter.settings)


@pytest.mark.parametrize(
    ("overrides", "secret", "code"),
    [
        ({"auth_mode": "soap", "password": "Wr0ng-pw-123"}, "Wr0ng-pw-123", "INVALID_LOGIN"),
        ({"consumer_secret": "Wr0ng-secret-123"}, "Wr0ng-secret-123", "invalid_client"),
    ],
)
def test_bad_credentials_are_fatal_without_leaking_them(
    sf_settings: Settings, overrides: dict[str, str], secret: str, code: str
) -> None:
    adapter = SalesforceAdapter(sf_settings(**overrides))
    with pytest.raises(FatalError) as info:
        list(adapter.query("SELECT Id FROM Lead"))
    assert info.value.code == code
    assert secret not in str(info.value) and info.value.__cause__ is None


def test_convert_leads_over_soap(
    sf_sandbox: SalesforceSandbox, sf_adapter: SalesforceAdapter, make_lead: MakeLead
) -> None:
    from worker.crm.salesforce import LeadConversion

    first = make_lead(Email="x@example.com", Company="Acme & Sons <Ltd>")
    second = make_lead()
    results = sf_adapter.convert_leads(
        [
            LeadConversion(first, "Converted", opportunity_name="Acme & Sons deal"),
            LeadConversion(second, "Working"),  # not a converted status
        ]
    )
    assert results[0].success and results[0].contact_id and results[0].opportunity_id
    assert sf_sandbox.org.get("Opportunity", results[0].opportunity_id)["Name"] == "Acme & Sons deal"
    assert sf_sandbox.org.get("Account", results[0].account_id or "")["Name"] == "Acme & Sons <Ltd>"
    assert not results[1].success and results[1].error_code == "INVALID_STATUS"
    sf_sandbox.org.expire_sessions()  # the SOAP call re-authenticates like the REST ones
    again = sf_adapter.convert_leads([LeadConversion(second, "Converted", do_not_create_opportunity=True)])
    assert again[0].success and again[0].opportunity_id is None


def test_batch_refused_as_a_whole_is_split_until_the_bad_record_alone_fails(
    sf_sandbox: SalesforceSandbox, sf_settings: Settings
) -> None:
    org, admin = sf_sandbox.org, sf_sandbox.org.admin_id
    opps = [
        org.create(
            "Opportunity", {"Name": f"O{i}", "StageName": "Prospecting", "CloseDate": "2026-12-31"}, admin
        )
        for i in range(3)
    ]
    adapter = SalesforceAdapter(sf_settings(write_batch_size=2))
    results = adapter.update(
        "Opportunity", [(opps[0], {"Amount": 10}), (opps[1], {"Amount": "ten"}), (opps[2], {"Amount": 30})]
    ).results
    # the first batch [O0, O1] is refused whole (400 JSON_PARSER_ERROR); re-sent in halves, only O1 fails
    assert [r.ok for r in results] == [True, False, True]
    assert isinstance(results[1].error, RecordRejectedError)
    assert results[1].error.code == "JSON_PARSER_ERROR" and results[1].id == opps[1]
    assert org.get("Opportunity", opps[0])["Amount"] == 10.0
    assert org.get("Opportunity", opps[2])["Amount"] == 30.0
    assert "Amount" not in org.get("Opportunity", opps[1])
