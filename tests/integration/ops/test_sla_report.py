"""``crmsync report sla``: from a journey history written to the audit stream for the test (people
owned by two Salesforce users and one HubSpot-only contact), the wait from entering MQL to the first
sales touch — a status leaving Open, or a call or meeting rule — per owner with exact medians and 90th
percentiles, the people still waiting past the threshold with both ids, and refusals of bad input."""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass

import pytest
import requests

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from worker.records import Base
from worker.state.audit import AuditEntry
from worker.state.store import State

from .conftest import Crmsync

pytestmark = pytest.mark.integration
H = 3_600_000
NOW = int(time.time() * 1000)
T0 = NOW - 30 * 24 * H  # a month ago: everyone entered then is past any threshold used here
STAGE = {"lead": "Lead", "mql": "Marketing Qualified Lead"}
STATUS = {
    "open": "OPEN",
    "working": "IN_PROGRESS",
    "contacted": "ATTEMPTED_TO_CONTACT",
    "meeting_set": "CONNECTED",
}


def stage(person: str, before: str, after: str, at: int) -> AuditEntry:
    return AuditEntry(
        "r", "live", person, "salesforce", "Lead", "00Q", "Lead_Stage__c", STAGE[before], STAGE[after],
        "field|stage|changed on HubSpot", at_ms=at,
    )  # fmt: skip


def status(
    person: str, before: str, after: str, at: int, cause: str = "field|status|changed on Salesforce"
) -> AuditEntry:
    return AuditEntry(
        "r", "live", person, "hubspot", "contacts", "1", "hs_lead_status", STATUS[before], STATUS[after],
        cause, at_ms=at,
    )  # fmt: skip


@dataclass
class Journey:
    ana: str
    ben: str
    people: dict[str, tuple[str, str | None]]  # name → (person id, HubSpot key)


@pytest.fixture
def journey(sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, state: State) -> Journey:
    org = sf_box.org
    ana = org.create_raw("User", {"Username": "ana@example.com", "FirstName": "Ana", "LastName": "Ng",
                                  "Email": "ana@example.com", "IsActive": True}, owner=None)  # fmt: skip
    ben = org.create_raw("User", {"Username": "ben@example.com", "FirstName": "Ben", "LastName": "Ode",
                                  "Email": "ben@example.com", "IsActive": True}, owner=None)  # fmt: skip
    people: dict[str, tuple[str, str | None]] = {}
    owners = {
        "a1": ana,
        "a2": ana,
        "a3": ana,
        "a4": ana,
        "c1": ana,
        "b1": ben,
        "b2": ben,
        "b3": ben,
        "b4": ben,
    }
    for n, (name, owner) in enumerate(owners.items()):
        lead = org.create(
            "Lead",
            {"LastName": name, "Company": "Acme", "Email": f"{name}@example.com", "OwnerId": owner},
            org.admin_id,
        )
        pid, hs_key = f"sf:Lead:{lead}", f"hs:contacts:{9000 + n}"
        state.links.link(pid, "salesforce", pid)
        state.links.link(pid, "hubspot", hs_key)
        people[name] = (pid, hs_key)
    answer = requests.post(
        f"{hs_box.base_url}/crm/v3/objects/contacts",
        json={"properties": {"email": "h1@example.com", "lifecyclestage": "marketingqualifiedlead"}},
        headers={"Authorization": f"Bearer {hs_box.token}"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    h1 = f"hs:contacts:{answer.json()['id']}"
    state.links.link(h1, "hubspot", h1)
    people["h1"] = (h1, h1)
    p = {name: pid for name, (pid, _) in people.items()}
    call = "rule|call_completed|A completed Call task moves an Open lead to Contacted."
    meeting = "rule|meeting_booked|A booked meeting (Event) sets Meeting Set."
    state.audit.append(
        [
            stage(p["a1"], "lead", "mql", T0),
            status(p["a1"], "open", "working", T0 + 2 * H),  # touched after 2 h
            stage(p["a2"], "lead", "mql", T0),
            status(p["a2"], "open", "open", T0 + 1 * H),  # not a touch: still open
            status(p["a2"], "open", "contacted", T0 + 4 * H, call),  # a call: 4 h
            stage(p["a3"], "lead", "mql", T0),
            status(p["a3"], "open", "meeting_set", T0 + 10 * H, meeting),  # a meeting: 10 h
            stage(p["a4"], "lead", "mql", T0),  # never touched: waiting a month
            stage(p["c1"], "lead", "mql", T0),  # no audited touch; its base says Working
            stage(p["b1"], "lead", "mql", T0),
            status(p["b1"], "open", "working", T0 + 1 * H),  # 1 h
            stage(p["b2"], "lead", "mql", T0),
            stage(p["b2"], "mql", "lead", T0 + 5 * H),  # recycled untouched
            stage(p["b2"], "lead", "mql", T0 + 24 * H),  # qualified again: a second episode
            status(p["b2"], "open", "working", T0 + 30 * H),  # 6 h after the second entry
            status(p["b3"], "open", "working", T0 - 1 * H),  # worked before it became an MQL
            stage(p["b3"], "lead", "mql", T0),
            stage(p["b4"], "lead", "mql", NOW - 1 * H),  # waiting an hour: under the threshold
            stage(p["h1"], "lead", "mql", T0),  # HubSpot only, no owner: waiting
        ]
    )
    state.bases.put(p["c1"], Base({"stage": "mql", "status": "working"}, {}, {}), fence=1)
    return Journey(ana, ben, people)


def rows(doc: dict[str, object]) -> dict[str, dict[str, object]]:
    return {str(r["owner"]): r for r in doc["owners"]}  # type: ignore[attr-defined]


def test_medians_and_p90_per_owner_and_the_people_waiting(crmsync: Crmsync, journey: Journey) -> None:
    code, doc = crmsync.json("report", "sla", "--threshold", "24h")
    assert code == 0
    assert doc["open_statuses"] == ["open"] and doc["stage"] == "mql"
    r = rows(doc)
    ana, ben = r[f"Ana Ng ({journey.ana})"], r[f"Ben Ode ({journey.ben})"]
    # Ana: touched after 2, 4 and 10 hours; a4 waiting; c1 touched at a time the audit does not know
    assert (ana["entered"], ana["touched"], ana["waiting"], ana["touched_unknown_time"]) == (5, 3, 1, 1)
    assert (ana["median_hours"], ana["p90_hours"], ana["waiting_past_threshold"]) == (4.0, 8.8, 1)
    # Ben: 1 h, and 6 h after b2's second entry (its first left MQL untouched); b3 worked before; b4 waits
    assert (ben["entered"], ben["touched"], ben["left_untouched"], ben["worked_before"]) == (5, 2, 1, 1)
    assert (ben["median_hours"], ben["p90_hours"], ben["waiting"], ben["waiting_past_threshold"]) == (
        3.5,
        5.5,
        1,
        0,
    )
    everyone = r["all"]
    assert (everyone["entered"], everyone["median_hours"], everyone["p90_hours"]) == (11, 4.0, 8.4)
    assert r["—"]["waiting_past_threshold"] == 1  # the HubSpot-only contact has no owner
    waiting = {w["person"]: w for w in doc["waiting"]}
    a4, a4_hs = journey.people["a4"]
    h1, _ = journey.people["h1"]
    assert set(waiting) == {a4, h1}
    assert (waiting[a4]["salesforce"], waiting[a4]["hubspot"]) == (a4, a4_hs)
    assert waiting[a4]["owner"] == f"Ana Ng ({journey.ana})" and waiting[a4]["waiting_hours"] >= 720
    assert (waiting[h1]["salesforce"], waiting[h1]["hubspot"]) == (None, h1)


def test_since_threshold_and_open_statuses_narrow_the_report(crmsync: Crmsync, journey: Journey) -> None:
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((T0 + 12 * H) / 1000))
    code, doc = crmsync.json("report", "sla", "--since", since, "--threshold", "30m")
    assert code == 0
    r = rows(doc)
    ben = r[f"Ben Ode ({journey.ben})"]
    assert (ben["entered"], ben["touched"], ben["median_hours"], ben["p90_hours"]) == (2, 1, 6.0, 6.0)
    assert [w["person"] for w in doc["waiting"]] == [journey.people["b4"][0]]  # an hour > 30 minutes
    # with Working counted as untouched too, only the call (4 h) and the meeting (10 h) are touches
    code, doc = crmsync.json("report", "sla", "--open-status", "open", "--open-status", "working")
    everyone = rows(doc)["all"]
    assert code == 0 and (everyone["touched"], everyone["median_hours"]) == (2, 7.0)


def test_table_and_csv(crmsync: Crmsync, journey: Journey) -> None:
    table = crmsync("report", "sla")
    assert table.exit_code == 0, table.output
    assert "Ana Ng" in table.stdout and "Waiting more than 24h" in table.stdout
    assert journey.people["a4"][1] in table.stdout  # the HubSpot id of the person waiting
    parsed = list(csv.DictReader(io.StringIO(crmsync("report", "sla", "--csv").stdout)))
    assert parsed[-1]["owner"] == "all" and parsed[-1]["median_hours"] == "4.0"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--threshold", "2x"], "--threshold: '2x' is not a duration"),
        (["--threshold", "0h"], "--threshold: '0h' is not a duration"),
        (["--since", "last tuesday"], "--since: 'last tuesday' is not a time"),
        (["--stage", "mqll"], "--stage: no stage 'mqll' in map default"),
        (["--open-status", "opn"], "--open-status: no status 'opn' in map default"),
        (["--json", "--csv"], "--json and --csv: choose one"),
    ],
)
def test_bad_input_exits_2_naming_it(crmsync: Crmsync, args: list[str], message: str) -> None:
    result = crmsync("report", "sla", *args)
    assert result.exit_code == 2 and message in result.stderr and result.stdout == ""


def test_no_owners_needs_no_crm(crmsync: Crmsync, journey: Journey) -> None:
    crmsync.env = {
        k: v for k, v in crmsync.env.items() if not k.startswith(("CRMSYNC_SALESFORCE", "CRMSYNC_HUBSPOT"))
    }
    code, doc = crmsync.json("report", "sla", "--no-owners")
    assert code == 0
    assert [r["owner"] for r in doc["owners"]] == ["—", "all"] and rows(doc)["all"]["p90_hours"] == 8.4
