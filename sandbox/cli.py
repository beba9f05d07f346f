"""``crmsync sandbox …``: run an emulator as a process (for the demo, docker-compose and manual poking)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Run a local CRM emulator (never points at a real CRM).", no_args_is_help=True)


@app.command("salesforce")
def salesforce(
    host: str = typer.Option("127.0.0.1", help="Interface to bind; loopback unless you know better."),
    port: int = typer.Option(8443, help="HTTPS port."),
    seed: int = typer.Option(0, help="Create this many realistic leads (and related records) at start."),
) -> None:
    """Serve the Salesforce REST/SOAP emulator over HTTPS with a self-signed certificate."""
    from sandbox.salesforce.server import serve

    serve(host=host, port=port, seed=seed)


@app.command("hubspot")
def hubspot(
    host: str = typer.Option("127.0.0.1", help="Interface to bind; loopback unless you know better."),
    port: int = typer.Option(8090, help="HTTP port."),
    seed: int = typer.Option(0, help="Create this many realistic contacts (and related records) at start."),
    index_lag_ms: int | None = typer.Option(
        None,
        min=0,
        max=600_000,
        help="Search-index lag in ms (default 2000, as a real portal lags; 0: exact).",
    ),
) -> None:
    """Serve the HubSpot CRM v3 emulator over HTTP."""
    from sandbox.hubspot.server import serve

    serve(host=host, port=port, seed=seed, index_lag_ms=index_lag_ms)
