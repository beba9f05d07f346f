"""Pure logic behind the review fixes: backoff ceilings, org keys, SOAP LimitInfoHeader parsing,
which failures prove a create was not applied."""

from __future__ import annotations

from worker.crm.salesforce.adapter import _not_applied
from worker.crm.salesforce.connection import org_key
from worker.crm.salesforce.retry import RetryPolicy
from worker.crm.salesforce.soap import parse_limit_info_header
from worker.crm.salesforce.usage import Usage
from worker.errors import RetriableError


def test_backoff_grows_exponentially_with_full_jitter_and_a_cap() -> None:
    policy = RetryPolicy(attempts=6, initial_wait=0.5, max_wait=3.0)
    for n, ceiling in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (5, 3.0)):
        samples = [policy.backoff(n) for _ in range(300)]
        assert all(0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling * 0.8  # jitter spans the range, not a fixed tiny wait


def test_org_key_is_the_org_id_from_the_session_else_the_host() -> None:
    assert org_key("00D5g000004ABCD!AQ4AQFv.xyz", "https://acme.my.salesforce.com") == "00D5g000004ABCD"
    assert org_key("opaque-token", "https://acme.my.salesforce.com") == "acme.my.salesforce.com"


def test_parse_limit_info_header() -> None:
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
        b'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com">'
        b"<soapenv:Header><LimitInfoHeader><limitInfo><current>5</current><limit>100000</limit>"
        b"<type>API REQUESTS</type></limitInfo><limitInfo><current>1</current><limit>750</limit>"
        b"<type>API BURSTS</type></limitInfo></LimitInfoHeader></soapenv:Header><soapenv:Body/>"
        b"</soapenv:Envelope>"
    )
    assert parse_limit_info_header(body) == Usage(5, 100000)
    assert parse_limit_info_header(b"<not xml") is None
    assert parse_limit_info_header(b"<a><b/></a>") is None


def test_only_a_4xx_proves_a_create_was_not_applied() -> None:
    assert _not_applied(RetriableError("lock", code="UNABLE_TO_LOCK_ROW", status=400))
    assert _not_applied(RetriableError("busy", status=429))
    assert not _not_applied(RetriableError("timeout", code="ReadTimeout"))
    assert not _not_applied(RetriableError("oops", code="UNKNOWN_EXCEPTION", status=500))
    assert not _not_applied(RetriableError("down", code="SERVER_UNAVAILABLE", status=503))
