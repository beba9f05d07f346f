"""``crmsync``: the operator's command line. One function per command; each parses and delegates.

Errors take one path (``CliGroup``): a user's mistake or a CRM's answer becomes one message on stderr
and an exit code from ``EXIT_CODES``, never a traceback (``crmsync --debug …`` adds it). Commands raise
the project's errors (``worker.errors``) and leave the wording of the exit to ``describe_error``.
Other modules add their commands with one ``app.add_typer``/``app.command`` line below.
"""

from __future__ import annotations

import json
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from sandbox.cli import app as sandbox_app
from worker import __version__
from worker.errors import (
    ConfigError,
    CrmError,
    CrmSyncError,
    FatalError,
    InputError,
    MappingError,
    QuotaExhaustedError,
    RecordRejectedError,
    RetriableError,
    SessionExpiredError,
)
from worker.maps import MAP_ENV, resolve_map, shipped_names
from worker.runtime_cli import register as register_runtime

EXIT_OK = 0
EXIT_BUG = 1
EXIT_INPUT = 2
EXIT_CRM = 3
EXIT_INTERRUPTED = 130
EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_BUG: "an internal error (a bug: rerun with --debug and report the traceback)",
    EXIT_INPUT: "bad input: arguments, files, maps, records or settings (the message names which)",
    EXIT_CRM: "a CRM or service refused or could not be reached (credentials, permissions, network)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}


def describe_error(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one message a user sees for ``exc``."""
    if isinstance(exc, CrmError):
        code = f" [{exc.code}]" if exc.code else ""
        return EXIT_CRM, f"{exc}{code}: {_CRM_HINTS.get(type(exc), 'see the CRM error above')}"
    if isinstance(exc, CrmSyncError):  # MappingError, InputError, ConfigError: located by the raiser
        return EXIT_INPUT, str(exc)
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return EXIT_INPUT, _settings_message(exc)
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in _EXTRAS:
        module = (exc.name or "").split(".")[0]
        return EXIT_INPUT, (
            f"this command needs {module}, an optional dependency: pip install 'crm-sync[{_EXTRAS[module]}]'"
        )
    if _is_connection_error(exc):
        return EXIT_CRM, f"cannot reach the service: {exc}: check the URL, the network and that it runs"
    if isinstance(exc, OSError) and exc.filename is not None:
        return EXIT_INPUT, f"{exc.filename}: {exc.strerror or exc}"
    return EXIT_BUG, (
        f"internal error ({type(exc).__name__}: {exc}); this is a bug: rerun with --debug and report "
        "the traceback"
    )


_EXTRAS = {  # optional modules (pyproject.toml extras) → the extra that brings them
    "starlette": "web,sandbox",
    "uvicorn": "web,sandbox",
    "cryptography": "sandbox",
    "jwt": "sandbox",
    "sortedcontainers": "sandbox",
    "publicsuffixlist": "sandbox",
    "defusedxml": "web",
    "prometheus_client": "web",
}
_CRM_HINTS = {
    RetriableError: "the CRM could not be reached or is busy: check the network and the base URL, then retry",
    SessionExpiredError: "the session expired and could not be renewed: check the credentials",
    FatalError: "check the credentials and the integration user's permissions",
    QuotaExhaustedError: "the API allowance is used up: wait for it to reset or raise the configured share",
    RecordRejectedError: "the CRM refused the record: fix the value it names",
}


def _is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    kinds: list[type[BaseException]] = []
    if (requests := sys.modules.get("requests")) is not None:
        kinds.append(requests.exceptions.RequestException)
    if (urllib3 := sys.modules.get("urllib3")) is not None:
        kinds.append(urllib3.exceptions.HTTPError)
    if (redis := sys.modules.get("redis")) is not None:
        kinds += [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError]
    return isinstance(exc, tuple(kinds))


def _settings_message(exc: Any) -> str:
    """A settings ``ValidationError`` in the variables an operator sets, not our field names."""
    from pydantic_settings import BaseSettings

    def subclasses(cls: type[Any]) -> list[type[Any]]:
        return [c for sub in cls.__subclasses__() for c in (sub, *subclasses(sub))]

    settings: Any = next((c for c in subclasses(BaseSettings) if c.__name__ == exc.title), None)
    prefix = str(settings.model_config.get("env_prefix", "")) if settings is not None else ""
    fields = list(getattr(settings, "model_fields", {}))

    def env(text: str) -> str:
        for name in sorted(fields, key=len, reverse=True):
            text = re.sub(rf"\b{re.escape(name)}\b", (prefix + name).upper(), text)
        return text

    problems = []
    for error in exc.errors(include_url=False):
        where = (prefix + str(error["loc"][0])).upper() if error["loc"] else f"settings ({prefix.upper()}*)"
        problems.append(f"{where}: {env(error['msg'])}")
    return "; ".join(problems)


def _from_the_cli_framework(exc: BaseException) -> bool:
    """Exceptions typer/click raise to steer parsing and exits; they keep their own meaning."""
    return type(exc).__module__.split(".")[0] in {"typer", "click"}


class CliGroup(TyperGroup):
    """The root command: one place where errors become a message and an exit code."""

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> Any:
        standalone = extra.pop("standalone_mode", True)
        _plain_metavars(self)
        try:
            code = super().main(args, prog_name, standalone_mode=False, **extra)
        except Exception as exc:
            if not _from_the_cli_framework(exc):
                raise
            code = _framework_exit(exc, prog_name or "crmsync")
        code = code if isinstance(code, int) else EXIT_OK
        if standalone:
            sys.exit(code)
        return code

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            typer.echo("crmsync: interrupted", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as exc:
            if _from_the_cli_framework(exc):
                raise
            if ctx.meta.get("crmsync.debug"):
                traceback.print_exc()
            code, message = describe_error(exc)
            typer.echo(message, err=True)
            raise typer.Exit(code) from None


def _plain_metavars(command: Any) -> None:
    """Help names what a user types (``--port PORT``, ``MAP``), never a Python type (``<int>``).

    Applied to the whole command tree, so commands other modules register get it too."""
    for param in getattr(command, "params", ()):
        if getattr(param, "is_flag", False) or param.param_type_name not in {"option", "argument"}:
            continue
        if param.metavar is None:
            param.metavar = (param.name or "value").upper()
        if param.param_type_name == "argument":
            param.display_type_rich = lambda ctx: None  # the metavar says it; typer adds "<str>"
    for sub in getattr(command, "commands", {}).values():
        _plain_metavars(sub)


def _framework_exit(exc: Exception, prog_name: str) -> int:
    """One line for a usage error (typer vendors click in some versions, so this is duck-typed)."""
    if not hasattr(exc, "format_message"):  # Abort (end of input at a prompt)
        typer.echo("crmsync: aborted", err=True)
        return EXIT_INTERRUPTED
    if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: its help is the answer
        typer.echo(exc.format_message(), err=True)
        return int(getattr(exc, "exit_code", EXIT_INPUT))
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else prog_name
    hint = f" (see '{command} --help')" if ctx is not None else ""
    typer.echo(f"{command}: {exc.format_message()}{hint}", err=True)
    return int(getattr(exc, "exit_code", EXIT_INPUT))


app = typer.Typer(
    cls=CliGroup,  # help: the docstring of root() below
    no_args_is_help=True,
    rich_markup_mode=None,  # help text is plain text: brackets in it are not markup
    pretty_exceptions_enable=False,  # CliGroup turns every error into one message
)
mappings_app = typer.Typer(help="Check, show and describe definition maps.", no_args_is_help=True)
app.add_typer(mappings_app, name="mappings")
app.add_typer(sandbox_app, name="sandbox")
register_runtime(app)  # crmsync worker / beat / demo (worker/runtime_cli.py)
app.command("web")(__import__("worker.web.cli", fromlist=["web"]).web)
__import__("worker.ops.cli", fromlist=["register"]).register(app)  # resync/audit/rollback/status (worker/ops)

T = TypeVar("T")
MAP_HELP = (
    f"Definition map: a file, or a shipped map's name ({', '.join(shipped_names())}). "
    f"Default: ${MAP_ENV}, else the shipped 'default'."
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"crmsync {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
    ),
    debug: bool = typer.Option(False, "--debug", help="On an error, print the traceback as well."),
) -> None:
    """crm-sync: keep Salesforce and HubSpot in agreement about lead stage and lead status.

    Exit codes: 0 success; 1 internal error (a bug); 2 bad input (arguments, files, maps, records,
    settings); 3 a CRM or service refused or could not be reached; 130 interrupted.
    """
    ctx.meta["crmsync.debug"] = debug


@app.command("version")
def version() -> None:
    """Print the installed version."""
    typer.echo(__version__)


MAP_ARGUMENT_HELP = "A definition map file, or a shipped map's name."


@mappings_app.command("check")
def mappings_check(
    files: list[str] = typer.Argument(
        ..., metavar="MAP", help="Definition map files or shipped names (one or more)."
    ),
) -> None:
    """Check maps; print every problem with file, line and key. Exit 0 when all are valid, else 2."""
    from worker.mapping import load_map

    failed = False
    for file in files:
        try:
            cmap = load_map(resolve_map(file))
        except ConfigError as exc:
            failed = True
            typer.echo(str(exc), err=True)
            continue
        except MappingError as exc:
            failed = True
            for problem in exc.problems:
                typer.echo(problem, err=True)
            continue
        typer.echo(
            f"{file}: ok: map {cmap.name!r}: {len(cmap.stages)} stages, {len(cmap.statuses)} statuses, "
            f"{len(cmap.rules)} rules, {len(cmap.fields) - 2} fields"
        )
    if failed:
        raise typer.Exit(EXIT_INPUT)


def _table(title: str, columns: Sequence[str]) -> Table:
    table = Table(title=title, title_justify="left", expand=False)
    for col in columns:
        table.add_column(col, overflow="fold")
    return table


@mappings_app.command("show")
def mappings_show(file: str = typer.Argument(..., metavar="MAP", help=MAP_ARGUMENT_HELP)) -> None:
    """Print a map as readable tables (they fit the terminal's width; set COLUMNS to change it)."""
    from worker.mapping import load_map

    cmap = load_map(resolve_map(file))
    # markup=False: every text below comes from the map file, where "[legacy]" is a label, not a style.
    console = Console(markup=False, highlight=False, emoji=False)
    console.print(Text.assemble((cmap.name, "bold"), f" — {cmap.description}"))
    stage_field, status_field = cmap.stage_field, cmap.status_field
    stages = _table(
        f"Stages (Salesforce {stage_field.salesforce}, HubSpot {stage_field.hubspot})",
        ("id", "label", "rank", "kind", "HubSpot", "Salesforce"),
    )
    assert stage_field.hs_to_canon is not None
    for s in sorted(cmap.stages.values(), key=lambda s: s.rank):
        primary = " (reads back)" if s.hubspot and stage_field.hs_to_canon.get(s.hubspot) == s.id else ""
        kind = s.kind.value + (", customer" if s.customer else "")
        stages.add_row(s.id, s.label, str(s.rank), kind, f"{s.hubspot or '—'}{primary}", s.salesforce or "—")
    console.print(stages)
    statuses = _table(
        f"Statuses (Salesforce {status_field.salesforce}, HubSpot {status_field.hubspot})",
        ("id", "label", "Salesforce", "HubSpot", "implies stage", "requires"),
    )
    for st in cmap.statuses.values():
        requires = ", ".join(f"{f}" + (f" (default {d!r})" if d else "") for f, d in st.requires)
        statuses.add_row(
            st.id, st.label, st.salesforce or "—", st.hubspot or "—", st.implies_stage or "", requires
        )
    console.print(statuses)
    moves = _table("Allowed backward moves (everything forward is allowed)", ("from", "to"))
    for to in sorted(cmap.backward_allowed_from_any):
        moves.add_row("*", to)
    for src, dst in sorted(cmap.backward_allowed):
        moves.add_row(src, dst)
    console.print(moves)
    rules = _table("Automation rules (in evaluation order)", ("id", "when", "if", "then"))
    for r in cmap.rules:
        when = r.event + (f" → {r.to}" if r.to else "")
        then = ", ".join(
            f"{k} {v}"
            for k, v in (
                ("set stage", r.set_stage),
                ("default stage", r.default_stage),
                ("set status", r.set_status),
                ("default status", r.default_status),
            )
            if v
        )
        rules.add_row(r.id, when, _condition_text(r.condition), then)
    console.print(rules)
    fields = _table("Fields", ("id", "Salesforce", "HubSpot", "sync", "conflict"))
    for f in cmap.fields:
        fields.add_row(f.id, f.salesforce or "—", f.hubspot or "—", f.sync.value, f.conflict.value)
    console.print(fields)
    policies = _table("Policies", ("policy", "value"))
    for name, value in _policies(cmap):
        policies.add_row(name, value)
    console.print(policies)


def _policies(cmap: Any) -> list[tuple[str, str]]:
    """The map's policies as (name, value) rows: conflicts, first sight, upsells, inclusion, links."""
    by_rank = {s.rank: s.id for s in cmap.stages.values()}

    def inclusion(create: bool, min_rank: int | None) -> str:
        if not create:
            return "no creates"
        if min_rank is None:
            return "create"
        return f"create, from stage {by_rank.get(min_rank, min_rank)} on"

    return [
        *(
            (f"{f.id}: sync, conflict", f"{f.sync.value}, {f.conflict.value}")
            for f in (cmap.stage_field, cmap.status_field)
        ),
        ("first_sight.stage", "furthest_along" if cmap.first_sight_furthest_along else "conflict_policy"),
        ("first_sight.facts", "as_state" if cmap.first_sight_facts_as_state else "remember"),
        ("lost_opportunity_demotes_customer", str(cmap.lost_opportunity_demotes_customer).lower()),
        ("inclusion.hubspot_to_salesforce", inclusion(cmap.hs_to_sf_create, cmap.hs_to_sf_min_rank)),
        ("inclusion.salesforce_to_hubspot", inclusion(cmap.sf_to_hs_create, cmap.sf_to_hs_min_rank)),
        (
            "links",
            f"Salesforce {cmap.link_sf_hubspot_id}; "
            f"HubSpot {cmap.link_hs_lead_id}, {cmap.link_hs_contact_id}",
        ),
    ]


def _condition_text(c: Any) -> str:
    if c is None:
        return ""
    parts = []
    for name in ("stage_in", "stage_not_in", "status_in", "status_not_in"):
        value = getattr(c, name)
        if value is not None:
            parts.append(f"{name} {', '.join(sorted(value))}")
    if c.stage_before_rank is not None:
        parts.append(f"stage rank < {c.stage_before_rank}")
    if c.no_open_opportunities is not None:
        parts.append(f"no_open_opportunities={c.no_open_opportunities}")
    if c.salesforce_object is not None:
        parts.append(f"salesforce_object {c.salesforce_object}")
    return "; ".join(parts)


@mappings_app.command("verify")
def mappings_verify(
    file: str = typer.Argument(..., metavar="MAP", help=MAP_ARGUMENT_HELP),
    salesforce: bool = typer.Option(
        True, "--salesforce/--no-salesforce", help="Check Salesforce (CRMSYNC_SALESFORCE_*)."
    ),
    hubspot: bool = typer.Option(True, "--hubspot/--no-hubspot", help="Check HubSpot (CRMSYNC_HUBSPOT_*)."),
) -> None:
    """Check a map against the live CRMs: every picklist value, option and field it names must exist.

    Run it before the worker uses a new or edited map: a value the CRM lacks (a renamed picklist
    value, a custom status not yet added to the portal) is reported, and the command exits 2.
    Credentials are checked before any call: missing ones are named by their variables (exit 2).
    """
    from worker.mapping import load_map
    from worker.mapping.verify import verify_against_crms

    cmap = load_map(resolve_map(file))
    schema: dict[str, Any] = {}
    sf_adapter: Any = None
    hs_adapter: Any = None
    missing: list[str] = []  # both adapters are built first: every missing setting is named before a call
    if salesforce:
        from worker.crm.salesforce.adapter import SalesforceAdapter
        from worker.crm.salesforce.settings import SalesforceSettings

        try:
            sf_adapter = SalesforceAdapter(SalesforceSettings())
        except ConfigError as exc:
            missing.append(str(exc))
    if hubspot:
        from worker.crm.hubspot.adapter import HubSpotAdapter
        from worker.crm.hubspot.settings import HubSpotSettings

        try:
            hs_adapter = HubSpotAdapter(HubSpotSettings())
        except ConfigError as exc:
            missing.append(str(exc))
    if missing:
        raise ConfigError(
            f"mappings verify: {'; '.join(missing)} (or skip a CRM: --no-salesforce, --no-hubspot)"
        )
    if sf_adapter is not None:
        from worker.crm.salesforce.startup import read_schema as read_salesforce

        schema.update(read_salesforce(sf_adapter).verify_arguments())
    if hs_adapter is not None:
        from worker.crm.hubspot.startup import read_schema as read_hubspot

        # options, plus the unique create-key property and the link properties the worker writes
        schema.update(read_hubspot(hs_adapter).verify_arguments())
    problems = verify_against_crms(cmap, **schema)
    for problem in problems:
        typer.echo(f"{file}: {problem}", err=True)
    if problems:
        raise typer.Exit(EXIT_INPUT)
    checked = (
        " and ".join(n for n, on in (("Salesforce", salesforce), ("HubSpot", hubspot)) if on) or "nothing"
    )
    typer.echo(f"{file}: ok: every value the map names exists in {checked}")


@mappings_app.command("schema")
def mappings_schema() -> None:
    """Print the JSON Schema of the definition map format (for editors)."""
    from worker.mapping.model import DefinitionMap

    typer.echo(json.dumps(DefinitionMap.model_json_schema(by_alias=True), indent=2))


def _read_json(path: Path, what: str) -> tuple[Any, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: {what} is not UTF-8 JSON (byte {exc.start})") from None
    try:
        return json.loads(text), text
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON in {what}: {exc.msg}") from None


def _parse(path: Path | None, what: str, parse: Callable[[Any], T]) -> T | None:
    """Read and normalise one input file; a problem is an ``InputError`` naming the file and the line."""
    if path is None:
        return None
    raw, text = _read_json(path, what)
    try:
        return parse(raw)
    except InputError as exc:
        line = _json_line(text, exc.key)
        raise InputError(f"{path}{f':{line}' if line else ''}: {exc}") from None


def _json_line(text: str, key: tuple[str | int, ...]) -> int | None:
    """The line of ``key`` in a JSON text (JSON is YAML, whose loader records lines); None if unknown."""
    from worker.mapping.yamlsource import load_located

    located = load_located(text, "")
    return located.line_of(key) if located.data is not None else None


@app.command("explain")
def explain(
    salesforce: Path | None = typer.Option(
        None, "--salesforce", metavar="FILE", help="Salesforce Lead/Contact JSON (REST shape)."
    ),
    hubspot: Path | None = typer.Option(
        None, "--hubspot", metavar="FILE", help="HubSpot contact JSON (CRM v3 shape)."
    ),
    base: Path | None = typer.Option(
        None,
        "--base",
        metavar="FILE",
        help="Last-synced base snapshot JSON; omit for a person never synced (first sight).",
    ),
    facts: Path | None = typer.Option(
        None,
        "--facts",
        metavar="FILE",
        help="Related facts JSON: opportunities, account_is_customer, account_churned, completed_calls, "
        "meetings, converted, and new_record (optional: without it a person met for the first time is new; "
        "false for a backfill of old records). See examples/README.md.",
    ),
    map_file: str | None = typer.Option(None, "--map", metavar="MAP", help=MAP_HELP),
    as_json: bool = typer.Option(False, "--json", help="Stable JSON output (see README)."),
) -> None:
    """Print the plan for one person, offline: the writes, each with its cause, and what was skipped."""
    from worker.mapping import load_map
    from worker.plan import plan
    from worker.plan.render import plan_to_json, plan_to_text
    from worker.records import base_from_json, facts_from_json, hubspot_record, salesforce_record

    if salesforce is None and hubspot is None:
        raise InputError("explain: give --salesforce, --hubspot, or both")
    cmap = load_map(resolve_map(map_file, "--map"))
    sf_rec = _parse(salesforce, "the Salesforce record", salesforce_record)
    hs_rec = _parse(hubspot, "the HubSpot record", hubspot_record)
    base_snapshot = _parse(base, "the base snapshot", base_from_json)
    facts_value = _parse(facts, "the facts", facts_from_json)
    result = plan(sf_rec, hs_rec, base_snapshot, facts_value, cmap)
    if as_json:
        typer.echo(json.dumps(plan_to_json(result, cmap), indent=2, sort_keys=False))
    else:
        typer.echo(plan_to_text(result, cmap))


def main() -> None:
    app()
