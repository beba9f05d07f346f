"""Hypothesis over the Outbound Message parser's XML prolog: whatever DTD, entity declarations (general,
parameter, external SYSTEM/PUBLIC, nested expansions), entity references or encoding declaration a
message carries, it is refused with the parser's one bad-input error (a SOAP client fault) — never
expanded, and never fetched: a listener standing in for an attacker's server sees no connection, and
a local file's content never reaches a parsed value."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.salesforce.ids import make_id
from tests.fuzzing import fuzz
from worker.web.salesforce import OUTBOUND_NS, SOAP_NS, BadMessageError, parse_notifications

ORG = make_id("00D", 1)
LEAD = make_id("00Q", 1)
MARKER = "file-content-that-must-never-be-read-7f3a"


def envelope(prolog: str, email: str = "a@b.c", encoding: str = "UTF-8") -> bytes:
    return (
        f'<?xml version="1.0" encoding="{encoding}"?>{prolog}'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f'<soapenv:Body><notifications xmlns="{OUTBOUND_NS}"><OrganizationId>{ORG}</OrganizationId>'
        f'<Notification><Id>{make_id("04l", 1)}</Id><sObject xsi:type="sf:Lead" '
        f'xmlns:sf="urn:sobject.enterprise.soap.sforce.com"><sf:Id>{LEAD}</sf:Id><sf:Email>{email}</sf:Email>'
        "</sObject></Notification></notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()


class Listener:
    """A TCP port that counts connections (where an external entity or DTD would be fetched from)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.sock.close()


@pytest.fixture(scope="module")
def secret_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("xxe") / "secret.txt"
    path.write_text(MARKER)
    return path


names = st.sampled_from(["x", "lol", "xxe", "p", "soapenv:Envelope", "a-b"])


@st.composite
def prologs(draw: st.DrawFn, url: str, file_url: str) -> tuple[str, str]:
    """A DOCTYPE with declarations, and an entity reference to put in a value."""
    target = draw(st.sampled_from([url, file_url, "file:///etc/passwd", "expect://id", "php://filter"]))
    decl = draw(
        st.lists(
            st.one_of(
                st.builds(
                    lambda n, v: f'<!ENTITY {n} "{v}">', names, st.sampled_from(["lol", "&lol;&lol;", "<a/>"])
                ),
                st.builds(lambda n: f'<!ENTITY {n} SYSTEM "{target}">', names),
                st.builds(lambda n: f'<!ENTITY {n} PUBLIC "-//x//y" "{target}">', names),
                st.builds(lambda n: f'<!ENTITY % {n} SYSTEM "{target}"> %{n};', names),
                st.just(
                    f'<!ENTITY lol "lol"><!ENTITY lol2 "{"&lol;" * 10}"><!ENTITY lol3 "{"&lol2;" * 10}">'
                ),
                st.just("<!ELEMENT x ANY>"),
                st.just('<!ATTLIST x a CDATA "v">'),
            ),
            max_size=4,
        )
    )
    external = draw(st.sampled_from(["", f' SYSTEM "{target}"', f' PUBLIC "-//x//y" "{target}"']))
    subset = f" [{''.join(decl)}]" if decl or draw(st.booleans()) else ""
    root = draw(names)
    reference = draw(st.sampled_from(["&xxe;", "&lol3;", "&lol;", "&x;", "a@b.c", "&#x41;", "&amp;"]))
    return f"<!DOCTYPE {root}{external}{subset}>", reference


@fuzz(80)
@given(data=st.data())
def test_any_dtd_is_refused_and_nothing_is_fetched_or_read(
    data: st.DataObject, listener: Listener, secret_file: Path
) -> None:
    prolog, reference = data.draw(prologs(f"http://127.0.0.1:{listener.port}/evil.dtd", secret_file.as_uri()))
    with pytest.raises(BadMessageError) as refused:
        parse_notifications(envelope(prolog, reference))
    assert "DTD" in str(refused.value) or "not well-formed" in str(refused.value)
    assert MARKER not in str(refused.value)
    assert listener.connections == 0


@fuzz(30)
@given(
    reference=st.sampled_from(["&xxe;", "&lol;", "&unknown;", "&#0;", "&#xD800;", "&"]),
    encoding=st.sampled_from(["UTF-8", "UTF-16", "ISO-8859-1", "UTF-7", "ebcdic-cp-us", "nope", "x" * 300]),
)
def test_entity_references_without_a_dtd_and_odd_encodings_never_expand(
    reference: str, encoding: str, listener: Listener
) -> None:
    """Without a DTD an entity reference is undefined (not well-formed); an encoding the body is not in
    is refused or read as bytes, never as markup from another charset."""
    try:
        message = parse_notifications(envelope("", reference, encoding))
    except BadMessageError:
        return
    for event in message.events:
        for change in event.changes:
            assert change.object_id == LEAD  # nothing but the record's id is taken from the message
    assert listener.connections == 0


@pytest.mark.parametrize("encoding", ["nope", "UTF-7", "UTF-16"])
def test_an_unknown_or_multi_byte_encoding_is_bad_input(encoding: str) -> None:
    """Found by the fuzzing above: ``LookupError`` / ``ValueError`` escaped the parser (a 500)."""
    with pytest.raises(BadMessageError, match=r"encoding|not well-formed"):
        parse_notifications(envelope("", "a@b.c", encoding))
