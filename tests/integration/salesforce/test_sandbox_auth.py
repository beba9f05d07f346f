"""Authentication against the sandbox through the real simple-salesforce login code."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceExpiredSession
from simple_salesforce.login import SalesforceLogin

from sandbox.salesforce.server import SalesforceSandbox

pytestmark = pytest.mark.integration

USER, PW, TOKEN = "admin@crm-sync.sandbox", "password", "TOKEN"
KEY, SECRET = "sandbox-consumer-key", "sandbox-consumer-secret"


def test_soap_login_returns_session_and_loopback_instance(
    sf_sandbox: SalesforceSandbox, sf_http: requests.Session
) -> None:
    session_id, instance = SalesforceLogin(username=USER, password=PW, security_token=TOKEN, session=sf_http)
    assert session_id.startswith(sf_sandbox.org.org_id[:15] + "!")
    assert instance == f"127.0.0.1:{sf_sandbox.port}"


def test_soap_login_with_wrong_password_is_invalid_login(sf_http: requests.Session) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as info:
        SalesforceLogin(username=USER, password="wrong", security_token=TOKEN, session=sf_http)
    assert info.value.code == "INVALID_LOGIN"
    assert info.value.auth_message == "Invalid username, password, security token; or user locked out."


def test_oauth_password_flow(sf_sandbox: SalesforceSandbox, sf_http: requests.Session) -> None:
    token, instance = SalesforceLogin(
        username=USER, password=PW + TOKEN, consumer_key=KEY, consumer_secret=SECRET, session=sf_http
    )
    assert token in sf_sandbox.org.sessions
    assert instance == f"127.0.0.1:{sf_sandbox.port}"


def test_oauth_password_flow_bad_secret(sf_http: requests.Session) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as info:
        SalesforceLogin(username=USER, password=PW, consumer_key=KEY, consumer_secret="nope", session=sf_http)
    assert info.value.code == "invalid_client"


def test_oauth_password_flow_bad_password_is_invalid_grant(sf_http: requests.Session) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as info:
        SalesforceLogin(
            username=USER, password="nope", consumer_key=KEY, consumer_secret=SECRET, session=sf_http
        )
    assert (info.value.code, info.value.auth_message) == ("invalid_grant", "authentication failure")


def test_client_credentials_flow_needs_my_domain(
    sf_sandbox: SalesforceSandbox, sf_http: requests.Session
) -> None:
    token, _ = SalesforceLogin(consumer_key=KEY, consumer_secret=SECRET, domain="sandbox.my", session=sf_http)
    assert sf_sandbox.org.sessions[token].user_id == sf_sandbox.org.admin_id


def test_jwt_bearer_flow(sf_sandbox: SalesforceSandbox, sf_http: requests.Session) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    sf_sandbox.org.connected_apps[KEY]["jwt_public_key"] = key.public_key()
    token, _ = SalesforceLogin(username=USER, consumer_key=KEY, privatekey=pem, session=sf_http)
    assert token in sf_sandbox.org.sessions


def test_expired_session_body_is_json_array(sf_sandbox: SalesforceSandbox) -> None:
    token = sf_sandbox.new_session_id()
    sf_sandbox.org.expire_sessions()
    response = sf_sandbox.session().get(
        f"{sf_sandbox.instance_url}/services/data/v59.0/limits/", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401
    assert response.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_direct_session_client_raises_expired_session(sf_sandbox: SalesforceSandbox) -> None:
    sf = Salesforce(
        session_id=sf_sandbox.new_session_id(),
        instance_url=sf_sandbox.instance_url,
        session=sf_sandbox.session(),
    )
    sf_sandbox.org.expire_sessions()
    with pytest.raises(SalesforceExpiredSession) as info:
        sf.query("SELECT Id FROM Lead")
    assert info.value.content[0]["errorCode"] == "INVALID_SESSION_ID"


def test_password_client_relogs_in_after_expiry(sf_sandbox: SalesforceSandbox, sf_client: Salesforce) -> None:
    logins = sf_sandbox.org.login_count
    sf_sandbox.org.expire_sessions()
    assert sf_client.query("SELECT COUNT() FROM Lead")["totalSize"] == 0
    assert sf_sandbox.org.login_count == logins + 1


def test_sforce_limit_info_is_parsed_by_client(sf_sandbox: SalesforceSandbox, sf_client: Salesforce) -> None:
    sf_client.query("SELECT Id FROM Lead")
    usage = sf_client.api_usage["api-usage"]
    assert (usage.used, usage.total) == (sf_sandbox.org.api_used, sf_sandbox.org.api_max)


def test_settings_repr_hides_secrets(sf_settings: Callable[..., object]) -> None:
    settings = sf_settings(password="pw-Zq81", security_token="tok-Xy72", consumer_secret="cs-Wv63")
    for text in (repr(settings), str(settings)):
        assert "pw-Zq81" not in text and "tok-Xy72" not in text and "cs-Wv63" not in text
