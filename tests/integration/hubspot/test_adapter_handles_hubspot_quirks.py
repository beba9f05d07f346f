"""The worker's HubSpot adapter against the behaviours real portals show (issue 9, worker side)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from sandbox.hubspot.models import DEFAULT_INDEX_LAG_MS
from sandbox.hubspot.server import HubSpotSandbox
from worker.crm.hubspot import HubSpotAdapter

from .conftest import make_settings

pytestmark = pytest.mark.integration


def create(hs: Any, **props: str) -> str:
    return str(hs.crm.contacts.basic_api.create({"properties": props}).id)


def props_of(hs: Any, cid: str, *names: str) -> dict[str, Any]:
    return dict(hs.crm.contacts.basic_api.get_by_id(cid, properties=list(names)).properties)


# ---------------------------------------------------------------- 2. one bad email among 100
def test_a_bad_email_is_isolated_and_the_other_99_upserts_are_written(
    adapter: HubSpotAdapter, sandbox: HubSpotSandbox
) -> None:
    emails = [f"person{i}@example.com" for i in range(100)]
    emails[41] = "jane@example.con"
    res = adapter.upsert_by_email({e: {"firstname": "P"} for e in emails})
    bad = res["jane@example.con"]
    assert bad.error is not None and bad.error.code == "VALIDATION_ERROR:INVALID_EMAIL"
    assert "Email address jane@example.con is invalid" in str(bad.error)
    assert sum(r.ok for r in res.values()) == 99
    written = {r.props.get("email") for r in sandbox.portal.stores["contacts"].records.values()}
    assert written == set(emails) - {"jane@example.con"}
    assert adapter.transport.stats.calls == 2  # the refused batch, then the 99 re-sent once


def test_bad_emails_in_an_update_are_isolated_by_value(adapter: HubSpotAdapter, hs: Any) -> None:
    ids = [create(hs, email=f"u{i}@example.com") for i in range(30)]
    updates: dict[str, dict[str, str | None]] = {
        i: {"email": f"new{n}@example.com"} for n, i in enumerate(ids)
    }
    updates[ids[3]] = {"email": "x@"}
    updates[ids[17]] = {"email": "a@b"}
    res = adapter.update(updates)
    assert {i for i, r in res.items() if not r.ok} == {ids[3], ids[17]}
    assert all(
        r.error is not None and r.error.code == "VALIDATION_ERROR:INVALID_EMAIL"
        for i, r in res.items()
        if not r.ok
    )
    assert props_of(hs, ids[0], "email")["email"] == "new0@example.com"
    assert props_of(hs, ids[3], "email")["email"] == "u3@example.com"
    assert adapter.transport.stats.calls <= 3


# ---------------------------------------------------------------- 1. clears are "" on the wire
def test_a_clear_given_as_none_is_sent_as_empty_string_and_clears(adapter: HubSpotAdapter, hs: Any) -> None:
    cid = create(hs, email="c@example.com", firstname="Ada", lastname="L")
    res = adapter.update({cid: {"firstname": None, "lastname": ""}})
    assert res[cid].ok
    assert props_of(hs, cid, "firstname", "lastname") == {
        **props_of(hs, cid, "firstname", "lastname"),
        "firstname": None,
        "lastname": None,
    }
    up = adapter.upsert_by_email({"c@example.com": {"lastname": None, "firstname": "B"}})
    assert up["c@example.com"].ok and props_of(hs, cid, "firstname")["firstname"] == "B"


# ---------------------------------------------------------------- 3. no empty writes
def test_inputs_without_properties_are_never_sent(adapter: HubSpotAdapter, hs: Any) -> None:
    cid = create(hs, email="e@example.com")
    res = adapter.update({cid: {}})
    assert res[cid].error is not None and res[cid].error.code == "NO_PROPERTIES"
    assert adapter.transport.stats.calls == 0
    mixed = adapter.update({cid: {"firstname": "X"}, "999999": {}})
    assert mixed[cid].ok and mixed["999999"].error is not None
    assert adapter.transport.stats.calls == 1


# ---------------------------------------------------------------- 8. results matched by id, never position
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_shuffled_batch_results_are_matched_to_their_inputs(
    adapter: HubSpotAdapter, sandbox: HubSpotSandbox, hs: Any, seed: int
) -> None:
    sandbox.configure(batch_order_seed=seed)
    ids = [create(hs, email=f"m{i}@example.com") for i in range(60)]
    updated = adapter.update({i: {"firstname": f"N{n}"} for n, i in enumerate(ids)})
    assert all(
        updated[i].record is not None and updated[i].record["properties"]["firstname"] == f"N{n}"
        for n, i in enumerate(ids)
    )
    assert all(updated[i].id == i for i in ids)
    upserted = adapter.upsert_by_email({f"m{n}@example.com": {"lastname": f"L{n}"} for n in range(60)})
    assert all(upserted[f"m{n}@example.com"].id == ids[n] for n in range(60))
    read = adapter.read(ids, properties=["firstname"])
    assert all(read[i]["properties"]["firstname"] == f"N{n}" for n, i in enumerate(ids))


# ---------------------------------------------------------------- 9. association batch read 207
def test_association_read_maps_no_associations_found_to_an_empty_list(
    adapter: HubSpotAdapter, hs: Any
) -> None:
    company = str(hs.crm.companies.basic_api.create({"properties": {"name": "Acme"}}).id)
    linked = [create(hs, email=f"l{i}@example.com") for i in range(3)]
    alone = [create(hs, email=f"a{i}@example.com") for i in range(2)]
    for cid in linked:
        hs.crm.associations.v4.basic_api.create_default("contacts", cid, "companies", company)
    got = adapter.read_associations([*alone, *linked], from_type="contacts", to_type="companies")
    assert got == {**{i: [company] for i in linked}, **{i: [] for i in alone}}


# ---------------------------------------------------------------- 6. the default lag is tolerated
def test_with_the_default_lag_a_margin_covering_it_delivers_every_write(
    sandbox: HubSpotSandbox, hs: Any
) -> None:
    assert sandbox.portal.settings.index_lag_ms == DEFAULT_INDEX_LAG_MS
    ids = {create(hs, email=f"g{i}@example.com") for i in range(20)}
    margin_s = DEFAULT_INDEX_LAG_MS / 1000 + 0.5
    too_early = HubSpotAdapter(make_settings(sandbox, index_lag_margin_s=0.0))
    assert sum(len(p.records) for p in too_early.changes_since(None)) < 20  # the lag hides fresh writes
    # a poll run margin_s later (both clocks moved on, no sleeping) sees everything written before it
    sandbox.advance_clock(int(margin_s * 1000) + 50)
    later = HubSpotAdapter(
        make_settings(sandbox, index_lag_margin_s=margin_s), clock=lambda: time.time() + margin_s + 0.05
    )
    seen = [r["id"] for p in later.changes_since(None) for r in p.records]
    assert sorted(seen) == sorted(ids)


# ---------------------------------------------------------------- 7. the 10,000 ceiling
@pytest.mark.usefixtures("exact_index")
def test_the_change_reader_never_asks_for_a_page_past_the_ceiling(
    adapter: HubSpotAdapter, sandbox: HubSpotSandbox
) -> None:
    from sandbox.hubspot.seed import seed_contacts

    with sandbox.backend.lock:
        seed_contacts(sandbox.portal, 10_400)
    sandbox.arm_fault(path_prefix="/never", status=500)  # keeps the fault list non-empty: nothing else
    seen = [r["id"] for p in adapter.changes_since(None) for r in p.records]
    assert len(seen) == len(set(seen)) == 10_400
    assert max(adapter.transport.stats.searches, 1) <= 10_400 // 200 + 3
