"""``crmsync``: the operator's command line. One function per command; each parses and delegates."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from sandbox.cli import app as sandbox_app
from worker import __version__
from worker.errors import InputError, MappingError
from worker.runtime_cli import register as register_runtime

app = typer.Typer(
    help="crm-sync: keep Salesforce and HubSpot in agreement about lead stage and lead status.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold secrets
)
mappings_app = typer.Typer(help="Check, show and describe definition maps.", no_args_is_help=True)
app.add_typer(mappings_app, name="mappings")
app.add_typer(sandbox_app, name="sandbox")
register_runtime(app)  # crmsync worker / beat / demo (worker/runtime_cli.py)
app.command("web")(__import__("worker.web.cli", fromlist=["web"]).web)

T = TypeVar("T")
DEFAULT_MAP = "mappings/default.yaml"
EXIT_INVALID = 2


def _map_path(path: Path | None) -> Path:
    return path or Path(os.environ.get("CRMSYNC_MAP", DEFAULT_MAP))


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(EXIT_INVALID)


@app.command("version")
def version() -> None:
    """Print the installed version."""
    typer.echo(__version__)


@mappings_app.command("check")
def mappings_check(files: list[Path] = typer.Argument(..., help="Definition map files.")) -> None:
    """Check maps; print every problem with file, line and key. Exit 0 when all are valid, else 2."""
    from worker.mapping import load_map

    failed = False
    for file in files:
        try:
            cmap = load_map(file)
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
        raise typer.Exit(EXIT_INVALID)


@mappings_app.command("show")
def mappings_show(file: Path = typer.Argument(..., help="A definition map file.")) -> None:
    """Print a map as readable tables."""
    from worker.mapping import load_map

    try:
        cmap = load_map(file)
    except MappingError as exc:
        raise _fail(str(exc)) from None
    console = Console(width=max(120, Console().width))
    console.print(f"[bold]{cmap.name}[/bold] — {cmap.description}")
    stage_field, status_field = cmap.stage_field, cmap.status_field
    stages = Table(title=f"Stages (Salesforce {stage_field.salesforce}, HubSpot {stage_field.hubspot})")
    for col in ("id", "label", "rank", "kind", "HubSpot", "Salesforce"):
        stages.add_column(col)
    assert stage_field.hs_to_canon is not None
    for s in sorted(cmap.stages.values(), key=lambda s: s.rank):
        primary = " (reads back)" if s.hubspot and stage_field.hs_to_canon.get(s.hubspot) == s.id else ""
        kind = s.kind.value + (", customer" if s.customer else "")
        stages.add_row(s.id, s.label, str(s.rank), kind, f"{s.hubspot or '—'}{primary}", s.salesforce or "—")
    console.print(stages)
    statuses = Table(title=f"Statuses (Salesforce {status_field.salesforce}, HubSpot {status_field.hubspot})")
    for col in ("id", "label", "Salesforce", "HubSpot", "implies stage", "requires"):
        statuses.add_column(col)
    for st in cmap.statuses.values():
        requires = ", ".join(f"{f}" + (f" (default {d!r})" if d else "") for f, d in st.requires)
        statuses.add_row(
            st.id, st.label, st.salesforce or "—", st.hubspot or "—", st.implies_stage or "", requires
        )
    console.print(statuses)
    moves = Table(title="Allowed backward moves (everything forward is allowed)")
    moves.add_column("from")
    moves.add_column("to")
    for to in sorted(cmap.backward_allowed_from_any):
        moves.add_row("*", to)
    for src, dst in sorted(cmap.backward_allowed):
        moves.add_row(src, dst)
    console.print(moves)
    rules = Table(title="Automation rules (in evaluation order)")
    for col in ("id", "when", "if", "then"):
        rules.add_column(col)
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
    fields = Table(title="Fields")
    for col in ("id", "Salesforce", "HubSpot", "sync", "conflict"):
        fields.add_column(col)
    for f in cmap.fields:
        fields.add_row(f.id, f.salesforce or "—", f.hubspot or "—", f.sync.value, f.conflict.value)
    console.print(fields)


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
    file: Path = typer.Argument(..., help="A definition map file."),
    salesforce: bool = typer.Option(
        True, "--salesforce/--no-salesforce", help="Check Salesforce (CRMSYNC_SALESFORCE_*)."
    ),
    hubspot: bool = typer.Option(True, "--hubspot/--no-hubspot", help="Check HubSpot (CRMSYNC_HUBSPOT_*)."),
) -> None:
    """Check a map against the live CRMs: every picklist value, option and field it names must exist.

    Run it before the worker uses a new or edited map: a value the CRM lacks (a renamed picklist
    value, a custom status not yet added to the portal) is reported, and the command exits 2.
    """
    from worker.errors import CrmError
    from worker.mapping import load_map
    from worker.mapping.verify import verify_against_crms

    try:
        cmap = load_map(file)
    except MappingError as exc:
        raise _fail(str(exc)) from None
    salesforce_side: dict[str, Any] = {}
    described_hs: dict[str, Any] | None = None
    try:
        if salesforce:
            from worker.crm.salesforce.adapter import SalesforceAdapter
            from worker.crm.salesforce.settings import SalesforceSettings
            from worker.crm.salesforce.startup import read_schema

            salesforce_side = read_schema(SalesforceAdapter(SalesforceSettings())).verify_arguments()
        if hubspot:
            from worker.crm.hubspot.adapter import HubSpotAdapter
            from worker.crm.hubspot.settings import HubSpotSettings

            described_hs = HubSpotAdapter(HubSpotSettings()).describe_properties()
    except (CrmError, ValueError) as exc:  # ValueError: pydantic settings that do not validate
        raise _fail(f"mappings verify: cannot read the CRM's schema: {exc}") from None
    problems = verify_against_crms(cmap, hubspot=described_hs, **salesforce_side)
    for problem in problems:
        typer.echo(f"{file}: {problem}", err=True)
    if problems:
        raise typer.Exit(EXIT_INVALID)
    checked = (
        " and ".join(n for n, on in (("Salesforce", salesforce), ("HubSpot", hubspot)) if on) or "nothing"
    )
    typer.echo(f"{file}: ok: every value the map names exists in {checked}")


@mappings_app.command("schema")
def mappings_schema() -> None:
    """Print the JSON Schema of the definition map format (for editors)."""
    from worker.mapping.model import DefinitionMap

    typer.echo(json.dumps(DefinitionMap.model_json_schema(by_alias=True), indent=2))


def _read_json(path: Path | None, what: str) -> Any:
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _fail(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise _fail(f"{path}: {what} is not UTF-8 JSON (byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON in {what}: {exc.msg}") from None


def _parse(path: Path | None, what: str, parse: Callable[[Any], T]) -> T | None:
    """Read and normalise one input file; any problem exits 2 naming the file."""
    raw = _read_json(path, what)
    if raw is None:
        return None
    try:
        return parse(raw)
    except InputError as exc:
        raise _fail(f"{path}: {exc}") from None


@app.command("explain")
def explain(
    salesforce: Path | None = typer.Option(
        None, "--salesforce", help="Salesforce Lead/Contact JSON (REST shape)."
    ),
    hubspot: Path | None = typer.Option(None, "--hubspot", help="HubSpot contact JSON (CRM v3 shape)."),
    base: Path | None = typer.Option(
        None, "--base", help="Last-synced base snapshot JSON; omit for a person never synced (first sight)."
    ),
    facts: Path | None = typer.Option(
        None,
        "--facts",
        help="Related facts JSON: opportunities, account_is_customer, account_churned, completed_calls, "
        "meetings, converted, and new_record (optional: without it a person met for the first time is new; "
        "false for a backfill of old records). See examples/README.md.",
    ),
    map_file: Path | None = typer.Option(
        None, "--map", help=f"Definition map [env CRMSYNC_MAP, {DEFAULT_MAP}]."
    ),
    as_json: bool = typer.Option(False, "--json", help="Stable JSON output (see README)."),
) -> None:
    """Print the plan for one person, offline: the writes, each with its cause, and what was skipped."""
    from worker.mapping import load_map
    from worker.plan import plan
    from worker.plan.render import plan_to_json, plan_to_text
    from worker.records import base_from_json, facts_from_json, hubspot_record, salesforce_record

    if salesforce is None and hubspot is None:
        raise _fail("explain: give --salesforce, --hubspot, or both")
    try:
        cmap = load_map(_map_path(map_file))
    except MappingError as exc:
        raise _fail(str(exc)) from None
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
