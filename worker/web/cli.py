"""``crmsync web``: serve the receivers with uvicorn and the documented limits (``worker.web.limits``)."""

from __future__ import annotations

import typer
from pydantic import ValidationError

from worker.errors import ConfigError


def settings_problems(exc: ValidationError) -> str:
    """One line per problem, naming the setting but never echoing its value (it may be a secret)."""
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or exc.title
        lines.append(f"  {exc.title}.{where}: {error['msg']}")
    return "\n".join(lines)


def web(
    host: str | None = typer.Option(None, help="Interface to bind (default CRMSYNC_WEB_HOST, 127.0.0.1)."),
    port: int | None = typer.Option(None, help="Port to bind (default CRMSYNC_WEB_PORT, 8000)."),
    workers: int | None = typer.Option(None, help="uvicorn worker processes (CRMSYNC_WEB_WORKERS)."),
) -> None:
    """Serve the HubSpot webhook, Salesforce Outbound Message and callout receivers, and /healthz."""
    from uvicorn import Server
    from uvicorn.supervisors import Multiprocess

    from worker.web.app import app_from_env
    from worker.web.limits import uvicorn_config
    from worker.web.settings import WebSettings

    try:
        settings = WebSettings()
        app_from_env()  # refuse to start on a bad configuration, with its message, before binding
    except ConfigError as exc:
        typer.echo(f"crmsync web: {exc}", err=True)
        raise typer.Exit(2) from None
    except ValidationError as exc:
        typer.echo(f"crmsync web: invalid settings:\n{settings_problems(exc)}", err=True)
        raise typer.Exit(2) from None
    overrides = {k: v for k, v in {"host": host, "port": port, "workers": workers}.items() if v}
    settings = settings.model_copy(update=overrides)
    config = uvicorn_config("worker.web.app:app_from_env", settings, factory=True, workers=settings.workers)
    server = Server(config)
    if settings.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        server.run()
    if not server.started and settings.workers == 1:
        raise typer.Exit(1)
