"""Hypothesis fuzzing of the receivers' parsers: whatever the bytes, the HubSpot event parser, the
Outbound Message parser and the callout parser either return validated events or raise their one
"bad input" error (answered 4xx) — never another exception (a 500). Accepted ids are always valid."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzzing import fuzz
from worker.web.hubspot import BadPayloadError, changes_of, is_hubspot_id, parse_events
from worker.web.salesforce import (
    OUTBOUND_NS,
    SALESFORCE_OBJECTS,
    SOAP_NS,
    BadMessageError,
    parse_callout,
    parse_notifications,
    salesforce_id18,
)

FUZZ = fuzz(300)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
ids = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.none(),
    st.text(max_size=8),
    st.floats(),
    st.booleans(),
)
events = st.fixed_dictionaries(
    {
        "eventId": st.one_of(st.integers(min_value=-5, max_value=2**64), st.text(max_size=3)),
        "objectId": ids,
        "subscriptionType": st.sampled_from(
            ["contact.creation", "contact.merge", "object.merge", "deal.deletion", "ticket.creation", 5]
        ),
    },
    optional={
        "primaryObjectId": ids,
        "newObjectId": ids,
        "mergedObjectIds": st.one_of(st.lists(ids, max_size=4), ids),
        "objectTypeId": st.one_of(st.sampled_from(["0-1", "0-2", "0-5"]), st.integers()),
        "portalId": st.one_of(st.integers(), st.text(max_size=3)),
        "propertyName": json_values,
        "occurredAt": json_values,
    },
)


def _hubspot_outcome(body: bytes) -> None:
    try:
        parsed = parse_events(body, max_events=50)
    except BadPayloadError:
        return
    for event in parsed:
        for change in changes_of(event):
            assert is_hubspot_id(int(change.object_id))


@FUZZ
@given(st.binary(max_size=300))
def test_hubspot_parser_on_arbitrary_bytes(body: bytes) -> None:
    _hubspot_outcome(body)


@FUZZ
@given(st.lists(st.one_of(events, json_values), max_size=5))
def test_hubspot_parser_on_event_shaped_json(doc: list[Any]) -> None:
    _hubspot_outcome(json.dumps(doc).encode())


@FUZZ
@given(st.binary(max_size=300))
def test_outbound_parser_on_arbitrary_bytes(body: bytes) -> None:
    with contextlib.suppress(BadMessageError):
        parse_notifications(body)


xml_text = st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=20)


@FUZZ
@given(st.lists(st.tuples(xml_text, xml_text, xml_text), min_size=0, max_size=3), xml_text)
def test_outbound_parser_on_envelope_shaped_xml(notes: list[tuple[str, str, str]], org: str) -> None:
    from html import escape

    body = (
        f'<e:Envelope xmlns:e="{SOAP_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><e:Body>'
        f'<notifications xmlns="{OUTBOUND_NS}"><OrganizationId>{escape(org)}</OrganizationId>'
        + "".join(
            f'<Notification><Id>{escape(n)}</Id><sObject xsi:type="sf:{escape(t, quote=True)}">'
            f'<sf:Id xmlns:sf="urn:x">{escape(i)}</sf:Id></sObject></Notification>'
            for n, t, i in notes
        )
        + "</notifications></e:Body></e:Envelope>"
    ).encode()
    try:
        message = parse_notifications(body)
    except BadMessageError:
        return
    for event in message.events:
        for change in event.changes:
            assert salesforce_id18(change.object_id, change.object_type) == change.object_id


@FUZZ
@given(st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps({"changes": v}).encode())))
def test_callout_parser_never_fails_otherwise(body: bytes) -> None:
    try:
        parsed = parse_callout(body, max_changes=10)
    except BadMessageError:
        return
    for event in parsed:
        for change in event.changes:
            assert change.object_type in SALESFORCE_OBJECTS and len(change.object_id) == 18
