"""Settings validation and the convertLead envelope, alone."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from worker.crm.salesforce.settings import SalesforceSettings
from worker.crm.salesforce.soap import LeadConversion, convert_envelope, parse_fault
from worker.errors import ConfigError


def test_each_mode_names_what_it_misses() -> None:
    with pytest.raises(ConfigError, match="security_token"):
        SalesforceSettings(auth_mode="soap", username="u", password="p")
    with pytest.raises(ConfigError, match="private_key"):
        SalesforceSettings(auth_mode="jwt", username="u", consumer_key="k")
    with pytest.raises(ConfigError, match="my-domain"):
        SalesforceSettings(auth_mode="client_credentials", consumer_key="k", consumer_secret="s")


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMSYNC_SALESFORCE_AUTH_MODE", "session")
    monkeypatch.setenv("CRMSYNC_SALESFORCE_SESSION_ID", "00Dxx!secret-token")
    monkeypatch.setenv("CRMSYNC_SALESFORCE_INSTANCE_URL", "https://example.my.salesforce.com")
    monkeypatch.setenv("CRMSYNC_SALESFORCE_MAX_API_SHARE", "0.25")
    settings = SalesforceSettings()
    assert settings.max_api_share == 0.25 and settings.session_id is not None
    assert settings.session_id.get_secret_value() == "00Dxx!secret-token"
    assert "secret-token" not in repr(settings)


def test_convert_envelope_escapes_values() -> None:
    text = convert_envelope(
        "00D!tok<&>", [LeadConversion("00Q5g0000000001EAA", "Converted", opportunity_name="A & B <c>")]
    )
    root = ET.fromstring(text)
    names = [el.text for el in root.iter() if el.tag.endswith("opportunityName")]
    assert names == ["A & B <c>"]
    assert [el.text for el in root.iter() if el.tag.endswith("sessionId")] == ["00D!tok<&>"]


def test_parse_fault() -> None:
    body = (
        b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
        b"<soapenv:Fault><faultcode>sf:INVALID_SESSION_ID</faultcode><faultstring>INVALID_SESSION_ID: bad"
        b"</faultstring></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    assert parse_fault(body) == ("INVALID_SESSION_ID", "INVALID_SESSION_ID: bad")


def test_client_credentials_is_the_default_auth_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AUTH_MODE", "USERNAME", "PASSWORD", "SECURITY_TOKEN"):
        monkeypatch.delenv(f"CRMSYNC_SALESFORCE_{name}", raising=False)
    settings = SalesforceSettings(consumer_key="k", consumer_secret="s", domain="acme.my")
    assert settings.auth_mode.value == "client_credentials"
    with pytest.raises(ConfigError, match="CRMSYNC_SALESFORCE_DOMAIN"):
        SalesforceSettings(consumer_key="k", consumer_secret="s")


def test_an_api_version_must_be_a_release_number() -> None:
    with pytest.raises(ValueError, match="api_version"):
        SalesforceSettings(consumer_key="k", consumer_secret="s", domain="acme.my", api_version="v59.0")
