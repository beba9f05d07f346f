"""The sandbox's webhook signatures agree with hubspot-api-client's own validator."""

from __future__ import annotations

import time

from hubspot.utils.signature import Signature

from sandbox.hubspot.webhooks import sign_v1, sign_v3, v3_signed_uri


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


def test_the_sandbox_signs_v3_over_the_uri_with_hubspots_escapes_decoded() -> None:
    sent = "https://hooks.example.com/in%3Aput/x?portal=1&email=a%40b.com&q=%2520&b=%2Fc"
    assert v3_signed_uri(sent) == "https://hooks.example.com/in:put/x?portal=1&email=a@b.com&q=%2520&b=/c"
    body, ts = b'[{"eventId":1}]', "1700000000000"
    sig = sign_v3("secret", "POST", sent, body, ts)
    # HubSpot's own client computes v3 over the URI given to it: the decoded one matches, the raw one not
    decoded = Signature.get_signature("secret", body.decode(), "v3", v3_signed_uri(sent), "POST", ts)
    raw = Signature.get_signature("secret", body.decode(), "v3", sent, "POST", ts)
    assert sig == decoded != raw
    assert v3_signed_uri("https://h.example.com/in?a=1&b=2") == "https://h.example.com/in?a=1&b=2"
