"""Every mistake a newcomer makes, and every CRM refusal, is one line and a documented exit code.

Exit codes (README "Exit codes"): 2 bad input, 3 a CRM or service refused or could not be reached.
Each case runs ``crmsync`` as a process and checks the code, the line and that no traceback shows.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from tests.cli.conftest import crmsync
from tests.conftest import MAPPINGS, ROOT
from tests.unit.test_map_loader_limits import BOMB

EXAMPLES = ROOT / "examples"
LEAD = json.loads((EXAMPLES / "salesforce-lead.json").read_text())


def write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data, indent=2) + "\n" if not isinstance(data, str) else data)
    return path


def line_of(path: Path, needle: str) -> int:
    return next(i for i, row in enumerate(path.read_text().splitlines(), 1) if needle in row)


# --- mappings verify: credentials are named before any call ------------------------------------------


@pytest.fixture
def listener() -> socket.socket:
    """A port that records whether anything connected to it (a stand-in API host)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.setblocking(False)
    yield sock
    sock.close()


def connected(sock: socket.socket) -> bool:
    try:
        sock.accept()[0].close()
    except BlockingIOError:
        return False
    return True


def test_verify_without_credentials_names_every_missing_variable_before_any_call(
    listener: socket.socket,
) -> None:
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    run = crmsync("mappings", "verify", "default", CRMSYNC_HUBSPOT_BASE_URL=url)
    assert run.code == 2
    message = run.message
    for variable in (
        "CRMSYNC_SALESFORCE_CONSUMER_KEY",  # the default auth mode is client_credentials
        "CRMSYNC_SALESFORCE_CONSUMER_SECRET",
        "CRMSYNC_HUBSPOT_ACCESS_TOKEN",
    ):
        assert variable in message
    assert not connected(listener)


def test_a_setting_that_does_not_parse_is_named_by_its_variable() -> None:
    run = crmsync(
        "mappings", "verify", "default", "--no-salesforce",
        CRMSYNC_HUBSPOT_ACCESS_TOKEN="pat-na1-x", CRMSYNC_HUBSPOT_BUDGET_PER_10S="lots",
    )  # fmt: skip
    assert run.code == 2
    assert run.message.startswith("CRMSYNC_HUBSPOT_BUDGET_PER_10S: Input should be a valid integer")


def test_a_crm_that_cannot_be_reached_exits_3_with_what_to_check() -> None:
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    run = crmsync(
        "mappings", "verify", "default", "--no-salesforce",
        CRMSYNC_HUBSPOT_ACCESS_TOKEN="pat-na1-secret", CRMSYNC_HUBSPOT_BASE_URL=url,
        CRMSYNC_HUBSPOT_MAX_ATTEMPTS="1",
    )  # fmt: skip
    assert run.code == 3
    assert "check the network and the base URL" in run.message
    assert "pat-na1-secret" not in run.err


# --- mappings show: file text is text, tables fit ----------------------------------------------------


def test_show_prints_brackets_from_the_map_as_written_and_fits_the_terminal(tmp_path: Path) -> None:
    text = (MAPPINGS / "default.yaml").read_text()
    text = text.replace("label: Churned Customer,", 'label: "Churned Customer [legacy]",', 1)
    text = re.sub(
        r"^description: .*?\n(?=\S)",
        'description: "Ours [/bold] [red]x[/red]"\n',
        text,
        count=1,
        flags=re.S | re.M,
    )
    marked = write(tmp_path / "marked.yaml", text)
    run = crmsync("mappings", "show", str(marked), COLUMNS="80")
    assert run.code == 0, run.err
    assert "Ours [/bold] [red]x[/red]" in run.out
    assert "[legacy]" in run.out
    assert max(len(row) for row in run.out.splitlines()) <= 80


# --- help and version ----------------------------------------------------------------------------------

COMMANDS = [
    [], ["explain"], ["version"], ["mappings"], ["mappings", "check"], ["mappings", "show"],
    ["mappings", "verify"], ["mappings", "schema"], ["mappings", "diff"], ["report", "sla"],
    ["sandbox"], ["sandbox", "salesforce"], ["sandbox", "hubspot"],
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "crmsync")
def test_help_shows_no_internal_type_names(command: list[str]) -> None:
    run = crmsync(*command, "--help", COLUMNS="100")
    assert run.code == 0, run.err
    for internal in ("<bool>", "<path>", "<int>", "<str>", "<list[", "{file"):
        assert internal not in run.out


def test_map_help_keeps_its_bracketed_text() -> None:
    text = " ".join(crmsync("explain", "--help").out.split())
    assert "--map MAP Definition map: a file, or a shipped map's name (default, sirius-waterfall)." in text
    assert "Default: $CRMSYNC_MAP, else the shipped 'default'." in text


def test_version() -> None:
    run = crmsync("--version")
    assert run.code == 0
    assert run.out.startswith("crmsync 0.")


def test_an_unknown_option_is_one_line_exit_2() -> None:
    run = crmsync("explain", "--salesforse", "x.json")
    assert run.code == 2
    assert run.message.startswith("crmsync explain: No such option: --salesforse")


# --- explain: every input checked, never coerced -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "change", "needle", "message"),
    [
        ("list-email", {"Email": ["a@example.com"]}, '"Email"', "Email: expected a single value, got a list"),
        ("converted", {"IsConverted": "yes"}, '"IsConverted"', "IsConverted: expected true or false"),
        ("modstamp", {"SystemModstamp": "yesterday"}, '"SystemModstamp"', "'yesterday' is not an ISO-8601"),
    ],
)  # fmt: skip
def test_explain_refuses_a_wrong_type_naming_file_line_and_key(
    tmp_path: Path, name: str, change: dict[str, object], needle: str, message: str
) -> None:
    record = write(tmp_path / f"{name}.json", {**LEAD, **change})
    run = crmsync("explain", "--salesforce", str(record), "--hubspot", str(EXAMPLES / "hubspot-contact.json"))
    assert run.code == 2
    assert run.message.startswith(f"{record}:{line_of(record, needle)}: salesforce record ")
    assert message in run.message


@pytest.mark.parametrize("option", ["--salesforce", "--hubspot", "--base", "--facts"])
def test_explain_refuses_a_file_holding_null(tmp_path: Path, option: str) -> None:
    empty = write(tmp_path / "null.json", "null\n")
    other = ["--hubspot", str(EXAMPLES / "hubspot-contact.json")] if option != "--hubspot" else []
    run = crmsync("explain", option, str(empty), *other)
    assert run.code == 2
    assert run.message.startswith(f"{empty}:")
    assert run.message.endswith("expected a JSON object, got null")


def test_explain_says_how_to_name_the_object_type(tmp_path: Path) -> None:
    bare = write(tmp_path / "bare.json", {k: v for k, v in LEAD.items() if k != "attributes"})
    run = crmsync("explain", "--salesforce", str(bare))
    assert run.code == 2
    assert '"attributes": {"type": "Lead"}' in run.message
    assert "object_type" not in run.message


def test_explain_refuses_a_hubspot_property_that_is_not_text(tmp_path: Path) -> None:
    contact = json.loads((EXAMPLES / "hubspot-contact.json").read_text())
    contact["properties"]["email"] = ["a@example.com"]
    bad = write(tmp_path / "contact.json", contact)
    run = crmsync("explain", "--hubspot", str(bad))
    assert run.code == 2
    line = line_of(bad, '"email"')
    assert run.message == (
        f"{bad}:{line}: hubspot record {contact['id']}: properties.email: "
        "expected text or null, got a list ['a@example.com']"
    )


def test_debug_adds_the_traceback(tmp_path: Path) -> None:
    empty = write(tmp_path / "null.json", "null\n")
    run = crmsync("--debug", "explain", "--salesforce", str(empty))
    assert run.code == 2
    assert "Traceback" in run.err
    assert run.err.strip().endswith("expected a JSON object, got null")


# --- the map loader --------------------------------------------------------------------------------------


def test_an_alias_bomb_is_refused(tmp_path: Path) -> None:
    bomb = write(tmp_path / "bomb.yaml", BOMB)
    run = crmsync("mappings", "check", str(bomb), timeout=20)
    assert run.code == 2
    assert (
        run.message
        == f"{bomb}:6: aliases expand to more than 100,000 values (nested aliases multiply): "
        + ("write the values out")
    )


def test_an_unknown_map_name_lists_the_shipped_ones(tmp_path: Path) -> None:
    run = crmsync("explain", "--salesforce", str(EXAMPLES / "salesforce-lead.json"), "--map", "sirius")
    assert run.code == 2
    assert run.message == (
        "sirius (from --map): no such file, and no shipped map of that name "
        "(shipped: default, sirius-waterfall): give a map file or a shipped map's name"
    )


@pytest.mark.parametrize("group", [[], ["mappings"], ["sandbox"]], ids=lambda g: " ".join(g) or "crmsync")
def test_a_bare_group_prints_its_help(group: list[str]) -> None:
    run = crmsync(*group)
    assert run.code == 2
    assert run.err.startswith(f"Usage: {' '.join(['crmsync', *group])} [OPTIONS] COMMAND [ARGS]...")
    assert "Traceback" not in run.err


def test_an_oversized_map_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as out:
        out.truncate(80 * 1024 * 1024)  # sparse: 80 MB of NUL bytes
    run = crmsync("mappings", "check", str(huge))
    assert run.code == 2
    assert run.message.startswith(f"{huge}: the map is longer than the limit of 16,777,216 characters")
