"""``crmsync resync``, ``audit``, ``rollback``, ``status``: the operator's commands (registered onto
``worker.cli`` by ``register``). Each parses its arguments, calls ``worker.ops``, and prints a table
for people or ``--json`` for scripts. Exit codes: 0 done, 1 a CRM refused a write, 2 bad input or
settings (nothing ran), 3 unfinished (busy, paused, transient: run it again)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console

from worker.errors import ConfigError, CrmError, InputError, MappingError
from worker.ops import resync as rs
from worker.plan.render import plan_to_json, plan_to_text

EXIT_INVALID = rs.EXIT_INVALID
EXIT_UNFINISHED = rs.EXIT_UNFINISHED


@contextmanager
def _operator_errors() -> Iterator[None]:
    """Bad input or settings: one line on stderr, exit 2; a CRM unreachable: exit 3."""
    try:
        yield
    except (InputError, ConfigError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except MappingError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except CrmError as exc:
        typer.echo(f"error: {type(exc).__name__} {exc.code or ''}: {exc}", err=True)
        raise typer.Exit(EXIT_UNFINISHED) from None


def _dump(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n")


def resync(
    salesforce: list[str] = typer.Option([], "--sf", help="Salesforce Lead (00Q…) or Contact (003…) id."),
    hubspot: list[str] = typer.Option([], "--hs", help="HubSpot contact id."),
    email: list[str] = typer.Option([], "--email", help="Every record with this email in either CRM."),
    failed: bool = typer.Option(False, "--failed", help="Every dead-lettered person."),
    code: str | None = typer.Option(None, "--code", help="With --failed: only this error code or reason."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Plan and print; write nothing."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
) -> None:
    """Sync people now, in the foreground, under the daemon's per-person locks: prints each plan with
    its reasons and what was written. Exit 1 when a CRM refused a write (its message is printed)."""
    from worker.ops.context import runtime

    if code is not None and not failed:
        typer.echo("error: --code needs --failed", err=True)
        raise typer.Exit(EXIT_INVALID)
    with _operator_errors():
        keys = [str(rs.salesforce_key(v)) for v in salesforce] + [str(rs.hubspot_key(v)) for v in hubspot]
        if not (keys or email or failed):
            raise InputError("name someone: --sf ID, --hs ID, --email ADDRESS or --failed")
        rt = runtime()
        service = rt.service
        for address in email:
            found = rs.keys_for_email(service, address)
            if not found:
                raise InputError(f"no Lead, Contact or HubSpot contact has the email {address!r}")
            keys += found
        if failed:
            keys += rs.failed_keys(rt.state, code)
        keys = rs.unique_keys([keys])
        if not keys:
            typer.echo("nothing to resync: no dead letters" + (f" with code {code}" if code else ""))
            return
        report = rs.resync(service, keys, dry_run=dry_run)
    cmap = service.cmap
    if as_json:
        _dump(
            {
                "run": report.run.id,
                "dry_run": report.dry_run,
                "exit_code": report.exit_code,
                "people": [
                    {
                        "person": p.person,
                        "keys": p.keys,
                        "disposition": p.disposition.value,
                        "detail": p.detail,
                        "plan": plan_to_json(p.plan, cmap) if p.plan is not None else None,
                        "written": [rs.audit_json(e) for e in p.written],
                        "rejected": [vars(r) for r in p.rejected],
                    }
                    for p in report.people
                ],
            }
        )
        raise typer.Exit(report.exit_code)
    out = Console(highlight=False, soft_wrap=True)
    out.print(f"run {report.run.id}" + (" (dry run: nothing written)" if dry_run else ""))
    for p in report.people:
        out.print(f"\n[bold]{p.person}[/bold] ({', '.join(p.keys)}): {p.disposition.value} — {p.detail}")
        if p.plan is not None:
            out.print(plan_to_text(p.plan, cmap), markup=False)
        for e in p.written:
            out.print(
                f"  wrote {e.side} {e.object} {e.record} {e.field}: {e.before!r} -> {e.after!r} ({e.op})",
                markup=False,
            )
        for r in p.rejected:
            typer.echo(f"  REJECTED by {r.side or 'sync'} {r.code or ''}: {r.message}", err=True)
    raise typer.Exit(report.exit_code)


COMMANDS: dict[str, Callable[..., None]] = {"resync": resync}


def register(app: typer.Typer) -> None:
    """Add the operator's commands to the ``crmsync`` app."""
    for name, command in COMMANDS.items():
        app.command(name)(command)
