"""``crmsync``: the operator's command line. One function per command; each parses and delegates."""

from __future__ import annotations

import typer

from sandbox.cli import app as sandbox_app
from worker import __version__

app = typer.Typer(
    help="crm-sync: keep Salesforce and HubSpot in agreement about lead stage and lead status.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold secrets
)
app.add_typer(sandbox_app, name="sandbox")


@app.command("version")
def version() -> None:
    """Print the installed version."""
    typer.echo(__version__)


def main() -> None:
    app()
