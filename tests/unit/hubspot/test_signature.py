"""The sandbox's webhook signatures agree with hubspot-api-client's own validator."""

from __future__ import annotations

import time

from hubspot.utils.signature import Signature

from sandbox.hubspot.webhooks import sign_v1, sign_v3


def test_v3_signature_validates_with_the_client_library() -> None:
    body = b'[{"eventId":1,"objectId":5,"subscriptionType":"contact.creation"}]'
    ts = str(int(time.time() * 1000))
    uri = "http://127.0.0.1:9000/webhooks/hubspot?x=1"
    sig = sign_v3("secret", "POST", uri, body, ts)
    assert Signature.is_valid(sig, "secret", body.decode(), uri, "POST", "v3", ts)
    assert not Signature.is_valid(sig, "other", body.decode(), uri, "POST", "v3", ts)


def test_v1_signature_validates_with_the_client_library() -> None:
    body = b"[]"
    assert Signature.is_valid(sign_v1("secret", body), "secret", body.decode(), signature_version="v1")
