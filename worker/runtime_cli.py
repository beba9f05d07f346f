"""``crmsync worker`` and ``crmsync beat``: the daemon's two processes (registered onto ``worker.cli``).

Both are Celery's own commands with the project's settings applied (``worker.celery_app``), so
``celery -A worker.celery_app worker …`` is equivalent; these spell out the options the service needs.
"""

from __future__ import annotations

import socket

import typer

from worker.errors import ConfigError

EXIT_INVALID = 2


def _app() -> object:
    try:
        from worker.celery_app import app
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_INVALID) from None
    return app


def worker(
    queues: str = typer.Option(
        "signals,sync,backfill", "--queues", "-Q", help="Queues to consume (comma-separated)."
    ),
    concurrency: int = typer.Option(2, "--concurrency", "-c", min=1, help="Worker processes."),
    loglevel: str = typer.Option("INFO", "--loglevel", "-l", help="DEBUG, INFO, WARNING, ERROR."),
    name: str = typer.Option(
        f"crmsync@{socket.gethostname()}", "--name", "-n", help="Node name (unique per worker process)."
    ),
    pool: str = typer.Option("prefork", "--pool", "-P", help="prefork (default), solo or threads."),
) -> None:
    """Run a sync worker. It first checks the active map against the CRMs and refuses (exit 2) when the
    map names a value or field they lack. SIGTERM is a warm shutdown: running tasks finish, reserved
    messages go back to the broker."""
    celery = _app()
    argv = ["worker", "-Q", queues, "-c", str(concurrency), "-l", loglevel, "-n", name, "-P", pool]
    celery.worker_main([*argv, "-O", "fair", "--without-gossip", "--without-mingle"])  # type: ignore[attr-defined]


def beat(
    loglevel: str = typer.Option("INFO", "--loglevel", "-l", help="DEBUG, INFO, WARNING, ERROR."),
) -> None:
    """Run the scheduler (celery-redbeat). Start one per deployment; a second one waits on the Redis
    lock and takes over within ``CRMSYNC_BEAT_LOCK_TIMEOUT`` seconds when the first one dies."""
    celery = _app()
    celery.start(["beat", "-l", loglevel])  # type: ignore[attr-defined]


def register(app: typer.Typer) -> None:
    """Add these commands to the ``crmsync`` app."""
    app.command("worker")(worker)
    app.command("beat")(beat)
    app.command("demo")(demo)


def demo(
    seed: int = typer.Option(20, help="Records each sandbox is seeded with."),
    step_timeout: float = typer.Option(60.0, help="Seconds to wait for each step to sync."),
) -> None:
    """Run the whole service locally (both sandboxes, a Redis, a worker and a beat), play a journey
    through both CRMs' APIs and print what changed where and why; everything is stopped afterwards."""
    from worker.demo import DemoError, run_demo

    try:
        run_demo(seed=seed, step_timeout=step_timeout)
    except DemoError as exc:
        typer.echo(f"demo: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
