"""``crmsync resync``, ``audit``, ``rollback``, ``status``: the operator's commands (registered onto
``worker.cli`` by ``register``). Each parses its arguments, calls ``worker.ops``, and prints a table
for people or ``--json`` for scripts. Exit codes: 0 done, 1 a CRM refused a write, 2 bad input or
settings (nothing ran), 3 unfinished (busy, paused, transient: run it again)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from worker.errors import ConfigError, CrmError, InputError, MappingError
from worker.ops import resync as rs
from worker.ops.audit import entry_json
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


def _command_logs() -> None:
    """The command's own log lines (``worker.logs``: run id, person, secrets redacted) on stderr,
    warnings and errors only unless ``CRMSYNC_LOG_LEVEL`` says otherwise: the report is on stdout."""
    from worker.logs import configure

    configure(level=os.environ.get("CRMSYNC_LOG_LEVEL", "WARNING").upper(), propagate=True)


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

    _command_logs()
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
                        "written": [entry_json(e) for e in p.written],
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


def audit(
    person: str | None = typer.Option(None, "--person", help="A person id or any of its record keys."),
    run: str | None = typer.Option(None, "--run", help="A run id (resync-…, live-…, backfill-…)."),
    field_name: str | None = typer.Option(None, "--field", help="A CRM field name or a map field id."),
    rule: str | None = typer.Option(None, "--rule", help="An automation rule id of the map."),
    side: str | None = typer.Option(None, "--side", help="salesforce or hubspot."),
    since: str | None = typer.Option(None, "--since", help="2026-11-30, 2026-11-30T14:00Z or 2h / 7d."),
    until: str | None = typer.Option(None, "--until", help="Same forms as --since."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most this many entries."),
    fmt: str = typer.Option("table", "--format", help="table, jsonl or csv."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the export to this file."),
    as_json: bool = typer.Option(False, "--json", help="Same as --format jsonl."),
) -> None:
    """List and filter the audit stream (oldest first); export it as JSONL or CSV."""
    from worker.ops import audit as au
    from worker.ops.context import runtime

    fmt = "jsonl" if as_json else fmt
    with _operator_errors():
        if fmt not in ("table", "jsonl", "csv"):
            raise InputError(f"--format must be table, jsonl or csv, not {fmt!r}")
        if side not in (None, "salesforce", "hubspot"):
            raise InputError(f"--side must be salesforce or hubspot, not {side!r}")
        flt = au.AuditFilter(
            person=person,
            run=run,
            field=field_name,
            rule=rule,
            side=side,
            since_ms=au.parse_time(since) if since else None,
            until_ms=au.parse_time(until) if until else None,
        )
        rt = runtime()
        names: frozenset[str] = frozenset()
        if field_name is not None:
            from worker.mapping import load_map

            cmap = load_map(rt.settings.map_path)
            names = frozenset(
                n for f in cmap.fields if f.id == field_name for n in (f.salesforce, f.hubspot) if n
            )
        entries = au.select(rt.state, flt, field_names=names, limit=limit)
        if fmt == "table":
            _audit_table(entries)
            return
        write = au.write_jsonl if fmt == "jsonl" else au.write_csv
        if output is None:
            write(entries, sys.stdout)
            return
        with output.open("w", encoding="utf-8", newline="") as fh:
            n = write(entries, fh)
        typer.echo(f"{n} entries written to {output}", err=True)


def _audit_table(entries: Iterable[Any]) -> None:
    from datetime import UTC, datetime

    table = Table()
    for name in ("at (UTC)", "run", "person", "side", "field", "before", "after", "op", "cause"):
        table.add_column(name, overflow="fold")
    n = 0
    for e in entries:
        at = datetime.fromtimestamp(e.at_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(at, e.run, e.person, e.side, e.field, e.before or "", e.after or "", e.op, e.cause)
        n += 1
    console = Console(highlight=False)
    console.print(table)
    console.print(f"{n} entries")


def rollback(
    run_id: str = typer.Argument(..., help="The run whose writes to undo."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be restored; write nothing."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
) -> None:
    """Restore the values a run overwrote, as new audited writes; people changed since are skipped
    and listed. Exit 1 when a CRM refused a restore, 3 when a person was busy."""
    from worker.ops.context import runtime
    from worker.ops.rollback import rollback as undo

    with _operator_errors():
        report = undo(runtime().service, run_id, dry_run=dry_run)
    if as_json:
        _dump(
            {
                "run": report.run_id,
                "rollback_run": report.rollback_run.id,
                "dry_run": dry_run,
                "exit_code": report.exit_code,
                "people": [
                    {
                        "person": p.person,
                        "status": p.status,
                        "reasons": p.reasons,
                        "not_undone": p.not_undone,
                        "restores": [vars(r) for r in p.restores],
                    }
                    for p in report.people
                ],
            }
        )
        raise typer.Exit(report.exit_code)
    out = Console(highlight=False, soft_wrap=True)
    verb = "would restore" if dry_run else "restored"
    out.print(
        f"rollback of {report.run_id}"
        + (" (dry run: nothing written)" if dry_run else f" as {report.rollback_run.id}")
    )
    for p in report.people:
        out.print(f"\n{p.person}: {p.status}", markup=False)
        if p.status in ("planned", "restored"):
            for r in p.restores:
                out.print(
                    f"  {verb} {r.side} {r.object} {r.record} {r.field}: {r.run_wrote!r} -> {r.value!r}",
                    markup=False,
                )
        for reason in p.reasons:
            out.print(f"  {reason}", markup=False)
        for note in p.not_undone:
            out.print(f"  not undone: {note}", markup=False)
    skipped = report.of("skipped")
    if skipped:
        out.print(f"\nskipped (changed since the run): {', '.join(p.person for p in skipped)}", markup=False)
    raise typer.Exit(report.exit_code)


def status(as_json: bool = typer.Option(False, "--json", help="One JSON document on stdout.")) -> None:
    """Cursors and their lag, pauses, last polls, API budgets, queue depths, dead letters by error
    code (with a sample) and running backfills — read from Redis, no CRM call."""
    from worker.ops.context import runtime
    from worker.ops.status import build_status, status_text

    with _operator_errors():
        rt = runtime()
        doc = build_status(rt.settings, rt.state, _broker(rt.settings))
    if as_json:
        _dump(doc)
        return
    Console(highlight=False, soft_wrap=True).print("\n".join(status_text(doc)), markup=False)


def _broker(settings: Any) -> Any:
    """The Celery broker's Redis (for queue depths), or None when the broker is not Redis."""
    import redis

    url = settings.broker
    return redis.Redis.from_url(url) if url.startswith(("redis://", "rediss://", "unix://")) else None


backfill_app = typer.Typer(help="Admin-triggered backfills on the backfill queue.", no_args_is_help=True)


@backfill_app.command("start")
def backfill_start(
    crm: str = typer.Option("both", "--crm", help="salesforce, hubspot or both."),
    obj: str | None = typer.Option(
        None, "--object", help="Lead, Contact (salesforce) or contacts (hubspot)."
    ),
    since: str | None = typer.Option(None, "--since", help="Only records changed since (ISO date/time)."),
    where: str | None = typer.Option(None, "--where", help="A SOQL WHERE clause (salesforce)."),
    hubspot_filters: str | None = typer.Option(
        None, "--hubspot-filters", help='HubSpot search filters as JSON: [{"propertyName": …, "operator": …}]'
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Plan every person; write nothing."),
    chunk_size: int = typer.Option(200, "--chunk-size", min=1, max=1000, help="People per task."),
    detach: bool = typer.Option(False, "--detach", help="Print the id and return; do not follow."),
    as_json: bool = typer.Option(False, "--json", help="JSON progress lines instead of a bar."),
) -> None:
    """Validate the scope against the CRMs (a bad one exits 2 naming the problem; nothing starts),
    then enqueue it and follow its progress (Ctrl-C stops following, not the backfill)."""
    from worker.ops import backfill as bf
    from worker.ops.context import runtime

    _command_logs()

    with _operator_errors():
        doc: dict[str, Any] = {"crm": crm, "object": obj, "since": since, "where": where}
        doc |= {"dry_run": dry_run, "chunk_size": chunk_size}
        if hubspot_filters is not None:
            try:
                doc["hubspot_filters"] = json.loads(hubspot_filters)
            except json.JSONDecodeError as exc:
                raise InputError(f"--hubspot-filters is not JSON: {exc}") from None
        spec = bf.parse_spec({k: v for k, v in doc.items() if v is not None})
        rt = runtime()
        store = bf.BackfillStore(rt.redis)
        started = bf.start(rt.service, spec, store)
        from worker.ops.tasks import send_enumerate

        send_enumerate(started.id, rt.settings.broker)
    typer.echo(
        f"backfill {started.id}: {started.total} records in scope" + (" (dry run)" if dry_run else ""),
        err=True,
    )
    if detach:
        if as_json:
            _dump(started.to_json())
        else:
            typer.echo(started.id)
        return
    _follow(store, started.id, as_json)


@backfill_app.command("status")
def backfill_status(
    backfill_id: str = typer.Argument(..., help="A backfill id (backfill-…)."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Follow until it ends."),
    as_json: bool = typer.Option(False, "--json", help="JSON instead of text."),
) -> None:
    """Progress of one backfill: done / total, rate, ETA, errors, and a dry run's counts."""
    from worker.ops import backfill as bf
    from worker.ops.context import runtime

    with _operator_errors():
        store = bf.BackfillStore(runtime().redis)
        b = store.get(backfill_id)
        if b is None:
            raise InputError(f"no backfill {backfill_id!r}")
    if follow:
        _follow(store, backfill_id, as_json)
        return
    if as_json:
        _dump(b.to_json())
        return
    _print_backfill(b.to_json())


@backfill_app.command("list")
def backfill_list(as_json: bool = typer.Option(False, "--json", help="JSON instead of a table.")) -> None:
    """The latest backfills, newest first."""
    from worker.ops import backfill as bf
    from worker.ops.context import runtime

    store = bf.BackfillStore(runtime().redis)
    docs = [b.to_json() for i in store.ids() if (b := store.get(i)) is not None]
    if as_json:
        _dump(docs)
        return
    table = Table("id", "state", "done", "total", "writes", "errors", "dry run")
    for d in docs:
        table.add_row(
            d["id"],
            d["state"],
            str(d["done"]),
            str(d["total"]),
            str(d["writes"]),
            str(d["errors"]),
            "yes" if d["dry_run"] else "",
        )
    Console(highlight=False).print(table)


@backfill_app.command("cancel")
def backfill_cancel(backfill_id: str = typer.Argument(..., help="A backfill id.")) -> None:
    """Stop a backfill: no further page is read and no further chunk runs (chunks running finish)."""
    from worker.ops import backfill as bf
    from worker.ops.context import runtime

    with _operator_errors():
        b = bf.cancel(bf.BackfillStore(runtime().redis), backfill_id)
    typer.echo(f"backfill {b.id}: {b.state}, {b.done}/{b.total} done")


@backfill_app.command("resume")
def backfill_resume(
    backfill_id: str = typer.Argument(..., help="A backfill id."),
    detach: bool = typer.Option(False, "--detach", help="Do not follow."),
    as_json: bool = typer.Option(False, "--json", help="JSON progress lines."),
) -> None:
    """Send again what a crash or restart left undone: the enumeration from its checkpoint and every
    chunk without a result (a chunk run twice writes nothing the second time and counts once)."""
    from worker.ops import backfill as bf
    from worker.ops.context import runtime

    with _operator_errors():
        store = bf.BackfillStore(runtime().redis)
        enumerate_again, chunks = bf.resume(store, backfill_id)
        from worker.ops.tasks import send_chunk, send_enumerate

        broker = runtime().settings.broker
        if enumerate_again:
            send_enumerate(backfill_id, broker)
        for n in chunks:
            send_chunk(backfill_id, n, broker)
    typer.echo(
        f"backfill {backfill_id}: resumed {len(chunks)} chunk(s)"
        + (", and its enumeration" if enumerate_again else ""),
        err=True,
    )
    if not detach:
        _follow(store, backfill_id, as_json)


@backfill_app.command("planned")
def backfill_planned(
    backfill_id: str = typer.Argument(..., help="A dry-run backfill id."),
    fmt: str = typer.Option("jsonl", "--format", help="jsonl or csv."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file."),
) -> None:
    """Every write a dry-run backfill planned (one line per field), as JSONL or CSV."""
    import csv

    from worker.ops import backfill as bf
    from worker.ops.context import runtime

    with _operator_errors():
        if fmt not in ("jsonl", "csv"):
            raise InputError(f"--format must be jsonl or csv, not {fmt!r}")
        store = bf.BackfillStore(runtime().redis)
        if store.get(backfill_id) is None:
            raise InputError(f"no backfill {backfill_id!r}")
    fh = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
    try:
        columns = ["person", "side", "op", "object", "record", "field", "value", "cause"]
        writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n") if fmt == "csv" else None
        if writer is not None:
            writer.writeheader()
        for row in store.planned_writes(backfill_id):
            if writer is not None:
                writer.writerow({k: "" if row.get(k) is None else row[k] for k in columns})
            else:
                fh.write(json.dumps(row, sort_keys=True) + "\n")
    finally:
        if output:
            fh.close()


def _print_backfill(d: dict[str, Any]) -> None:
    out = Console(highlight=False, soft_wrap=True)
    out.print(
        f"{d['id']}: {d['state']}, {d['done']}/{d['total']} done, {d['writes']} writes, "
        f"{d['errors']} errors, {d['rate_per_s']}/s" + (f", ETA {d['eta_s']:.0f}s" if d["eta_s"] else ""),
        markup=False,
    )
    if d["dry_run"]:
        for kind in ("rules", "fields"):
            for name, n in sorted(d["planned"].get(kind, {}).items(), key=lambda kv: -kv[1]):
                out.print(f"  {kind[:-1]} {name}: {n} planned write(s)", markup=False)


def _follow(store: Any, backfill_id: str, as_json: bool, every_s: float = 0.5) -> None:
    """Follow until the backfill ends: a rich bar (done/total, rate, ETA, errors) or JSON lines."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    def current() -> dict[str, Any]:
        b = store.get(backfill_id)
        if b is None:
            raise typer.Exit(EXIT_INVALID)
        doc: dict[str, Any] = b.to_json()
        return doc

    try:
        if as_json:
            while True:
                d = current()
                sys.stdout.write(json.dumps(d, sort_keys=True) + "\n")
                sys.stdout.flush()
                if d["state"] not in ("enumerating", "running"):
                    break
                time.sleep(every_s)
        else:
            columns = (
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}/s"),
                TimeRemainingColumn(),
                TextColumn("errors {task.fields[errors]}"),
            )
            with Progress(*columns, transient=False) as bar:
                d = current()
                task = bar.add_task(backfill_id, total=d["total"] or None, rate=0, errors=0)
                while True:
                    d = current()
                    bar.update(
                        task,
                        completed=d["done"],
                        total=d["total"] or None,
                        rate=d["rate_per_s"],
                        errors=d["errors"],
                    )
                    if d["state"] not in ("enumerating", "running"):
                        break
                    time.sleep(every_s)
            _print_backfill(d)
    except KeyboardInterrupt:
        typer.echo(
            f"\nstopped following; {backfill_id} goes on (crmsync backfill status {backfill_id})", err=True
        )
        return
    if d["state"] == "failed":
        raise typer.Exit(1)
    if d["errors"]:
        raise typer.Exit(1)


report_app = typer.Typer(help="Reports from the audit stream.", no_args_is_help=True)


@report_app.command("funnel")
def report_funnel(
    since: str | None = typer.Option(None, "--since", help="Only moves since (2026-11-01, 30d, …)."),
    map_file: Path | None = typer.Option(
        None, "--map", help="The map whose stages to report (default: active)."
    ),
    fmt: str = typer.Option("table", "--format", help="table, json or csv."),
    as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
) -> None:
    """Per stage: people who entered, moved on, went to the next stage, conversion rates and the median
    days in the stage, from the stage history in the audit stream."""
    import csv

    from worker.mapping import load_map
    from worker.ops.audit import parse_time
    from worker.ops.context import runtime
    from worker.ops.reports import funnel

    fmt = "json" if as_json else fmt
    with _operator_errors():
        if fmt not in ("table", "json", "csv"):
            raise InputError(f"--format must be table, json or csv, not {fmt!r}")
        since_ms = parse_time(since) if since else None
        rt = runtime()
        cmap = load_map(map_file or rt.settings.map_path)
        rows = funnel(rt.state.audit.entries(), cmap, since_ms=since_ms)
    docs = [r.to_json() for r in rows]
    if fmt == "json":
        _dump({"map": cmap.name, "since_ms": since_ms, "stages": docs})
    elif fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(docs[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(docs)
    else:
        table = Table("stage", "entered", "moved on", "to next", "conversion", "to next %", "median days")
        for r in rows:
            days = f"{r.median_days_in_stage:.1f}" if r.median_days_in_stage is not None else ""
            table.add_row(
                r.label,
                str(r.entered),
                str(r.moved_on),
                str(r.to_next),
                _pct(r.conversion),
                _pct(r.next_conversion),
                days,
            )
        Console(highlight=False).print(table)


@report_app.command("exceptions")
def report_exceptions(
    fmt: str = typer.Option("table", "--format", help="table, json or csv."),
    as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
) -> None:
    """People whose state contradicts the active map now (unknown values, a status whose implied stage is
    not set, a required field left blank, dead letters), grouped by kind, with their ids in both CRMs."""
    import csv
    from collections import Counter

    from worker.ops.context import runtime
    from worker.ops.reports import exceptions

    fmt = "json" if as_json else fmt
    with _operator_errors():
        if fmt not in ("table", "json", "csv"):
            raise InputError(f"--format must be table, json or csv, not {fmt!r}")
        rt = runtime()
        found = [e.to_json() for e in exceptions(rt.state, rt.service.cmap)]
    if fmt == "json":
        _dump({"total": len(found), "by_kind": dict(Counter(e["kind"] for e in found)), "people": found})
    elif fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=["kind", "person", "salesforce", "hubspot", "detail"])
        writer.writeheader()
        writer.writerows({k: v or "" for k, v in e.items()} for e in found)
    else:
        table = Table("kind", "person", "Salesforce", "HubSpot", "detail")
        for e in sorted(found, key=lambda e: (e["kind"], e["person"])):
            table.add_row(e["kind"], e["person"], e["salesforce"] or "", e["hubspot"] or "", e["detail"])
        Console(highlight=False).print(table)
        Console(highlight=False).print(f"{len(found)} exception(s)")


@report_app.command("sla")
def report_sla(
    since: str | None = typer.Option(
        None, "--since", help="Only entries into the stage since (2026-11-01, 30d)."
    ),
    threshold: str = typer.Option("24h", "--threshold", help="List people waiting longer (90m, 48h, 2d)."),
    stage: str = typer.Option("mql", "--stage", help="The map's stage whose entry starts the clock."),
    open_status: list[str] = typer.Option(
        [], "--open-status", help="A status that is not a touch (repeat; default: as the map defines)."
    ),
    map_file: Path | None = typer.Option(
        None, "--map", help="The map to read the history with (default: active)."
    ),
    with_owners: bool = typer.Option(
        True, "--owners/--no-owners", help="Read each person's owner from the CRMs (else one group)."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
    as_csv: bool = typer.Option(False, "--csv", help="The per-owner rows as CSV."),
) -> None:
    """Time from entering MQL to sales' first touch (the status leaving its open value, a call or a
    meeting), median and 90th percentile per owner, and the people still waiting past the threshold
    with their ids in both CRMs — from the audit stream; owners are read from the CRMs."""
    import csv
    import time

    from worker.mapping import load_map
    from worker.ops import sla
    from worker.ops.audit import parse_time
    from worker.ops.context import runtime
    from worker.ops.owners import NO_OWNER, read_owners

    with _operator_errors():
        if as_json and as_csv:
            raise InputError("--json and --csv: choose one")
        try:
            since_ms = parse_time(since) if since else None
        except InputError as exc:
            raise InputError(f"--since: {exc}") from None
        threshold_s = sla.parse_duration(threshold)
        rt = runtime()
        cmap = load_map(map_file or rt.settings.map_path)
        unknown = [s for s in open_status if s not in cmap.statuses]
        if unknown:
            raise InputError(
                f"--open-status: no status {', '.join(map(repr, unknown))} in map {cmap.name} "
                f"(statuses: {', '.join(cmap.statuses)})"
            )
        opened = frozenset(open_status) if open_status else sla.open_statuses(cmap)
        now_ms = int(time.time() * 1000)
        found = sla.episodes(
            rt.state.audit.entries(),
            cmap,
            stage=stage,
            opened=opened,
            since_ms=since_ms,
            bases=rt.state.bases.get_many,
        )
        people = rt.state.links.people(sorted({ep.person for ep in found}))
        owners: dict[str, str] = {}
        if people and with_owners:
            s = rt.settings
            sf, hs = (
                (rt.salesforce if s.salesforce_enabled else None),
                (rt.hubspot if s.hubspot_enabled else None),
            )
            owners = read_owners(people, cmap, sf, hs)
    rows = sla.by_owner(found, owners, now_ms=now_ms, threshold_s=threshold_s)
    late = sla.overdue(found, now_ms=now_ms, threshold_s=threshold_s)
    waiting: list[dict[str, Any]] = [
        {
            "person": ep.person,
            "salesforce": people[ep.person].salesforce if ep.person in people else None,
            "hubspot": people[ep.person].hubspot if ep.person in people else None,
            "owner": owners.get(ep.person, NO_OWNER),
            "entered": sla.iso(ep.entered_ms),
            "waiting_hours": round(ep.wait_s(now_ms) / 3600, 1),
        }
        for ep in late
    ]
    docs = [r.to_json() for r in rows]
    if as_json:
        _dump(
            {
                "map": cmap.name,
                "stage": stage,
                "open_statuses": sorted(opened),
                "since": sla.iso(since_ms) if since_ms is not None else None,
                "threshold_hours": round(threshold_s / 3600, 3),
                "now": sla.iso(now_ms),
                "owners": docs,
                "waiting": waiting,
            }
        )
        return
    if as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(docs[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in d.items()} for d in docs)
        return
    out = Console(highlight=False)
    hours = f"{threshold_s / 3600:g}h"

    def text(key: str) -> Callable[[dict[str, Any]], str]:
        return lambda d: "" if d[key] is None else str(d[key])

    def hours_of(key: str) -> Callable[[dict[str, Any]], str]:
        return lambda d: _hours(d[key])

    title = f"{cmap.stages[stage].label} → first sales touch (open: {', '.join(sorted(opened))})"
    owner_columns = [("owner", text("owner")), ("entered", text("entered")), ("touched", text("touched"))]
    owner_columns += [("median", hours_of("median_hours")), ("p90", hours_of("p90_hours"))]
    owner_columns += [("waiting", text("waiting")), (f"over {hours}", text("waiting_past_threshold"))]
    owner_columns += [("moved on untouched", text("left_untouched"))]
    out.print(_doc_table(title, owner_columns, docs))
    if waiting:
        person_columns = [("person", text("person")), ("Salesforce", text("salesforce"))]
        person_columns += [("HubSpot", text("hubspot")), ("owner", text("owner"))]
        person_columns += [("entered", text("entered")), ("waiting", hours_of("waiting_hours"))]
        out.print(_doc_table(f"Waiting more than {hours}", person_columns, waiting))
    else:
        out.print(f"nobody has waited more than {hours}")


def _doc_table(
    title: str, columns: Sequence[tuple[str, Callable[[dict[str, Any]], str]]], docs: Iterable[dict[str, Any]]
) -> Table:
    table = Table(*(name for name, _ in columns), title=title, title_justify="left")
    for d in docs:
        table.add_row(*(cell(d) for _, cell in columns))
    return table


def _hours(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value / 24:.1f}d" if value >= 48 else f"{value:.1f}h"


def mappings_diff(
    old: str = typer.Argument(..., help="The map deployed now (the stored bases were synced with it)."),
    new: str = typer.Argument(..., help="The map about to be deployed."),
    live: bool = typer.Option(
        False, "--live", help="Read the current records from both CRMs instead of the stored bases."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
) -> None:
    """How many synced people NEW would move per stage, status and rule, the writes its next sync would
    make, and the values it does not know, each with a sample; nothing is written."""
    from worker.mapping import load_map
    from worker.maps import resolve_map
    from worker.ops import mapdiff as md
    from worker.ops.context import runtime

    with _operator_errors():
        old_map, new_map = load_map(resolve_map(old)), load_map(resolve_map(new))
        rt = runtime()
        subjects = (
            md.live_subjects(rt.state, rt.salesforce, rt.hubspot, old_map, new_map)
            if live
            else md.stored_subjects(rt.state, old_map, new_map)
        )
        found = md.diff(subjects, old_map, new_map, source="live" if live else "stored")
    doc = found.to_json()
    if as_json:
        _dump(doc)
        return
    out = Console(highlight=False, soft_wrap=True)
    read = "read from both CRMs" if live else "as last synced"
    out.print(f"{doc['people']} synced people ({read}) checked against {new}", markup=False)
    for kind, what in (
        ("stage", "stage"),
        ("status", "status"),
        ("rules", "rule"),
        ("writes", "next sync writes"),
    ):
        for row in doc[kind]:
            out.print(
                f"  {what} {row['change']}: {row['people']} (e.g. {', '.join(row['sample'])})", markup=False
            )
    for side, rows in doc["unknown_values"].items():
        for row in rows:
            out.print(
                f"  {side} {row['change']} unknown to the new map: {row['people']} "
                f"(e.g. {', '.join(row['sample'])})",
                markup=False,
            )
    if found.empty:
        out.print("  nobody would move", markup=False)


def _pct(value: float | None) -> str:
    return f"{value:.0%}" if value is not None else ""


COMMANDS: dict[str, Callable[..., None]] = {
    "resync": resync,
    "audit": audit,
    "rollback": rollback,
    "status": status,
}


def register(app: typer.Typer) -> None:
    """Add the operator's commands to the ``crmsync`` app."""
    for name, command in COMMANDS.items():
        app.command(name)(command)
    app.add_typer(backfill_app, name="backfill")
    app.add_typer(report_app, name="report")
    for group in app.registered_groups:
        if group.name == "mappings" and group.typer_instance is not None:
            group.typer_instance.command("diff")(mappings_diff)
