"""``crmsync sandbox …``: run an emulator as a process (for the demo, docker-compose and manual poking).

The port is bound here, before anything is printed: a port in use, out of range or not allowed is one
clear error (exit 2) instead of a banner followed by a failure, and ``--port 0`` reports the port the
system picked.
"""

from __future__ import annotations

import errno
import signal
import socket
from types import FrameType

import typer

app = typer.Typer(help="Run a local CRM emulator (never points at a real CRM).", no_args_is_help=True)

HOST_HELP = "Interface to bind; loopback unless you know better."
PORT_HELP = "Port to listen on; 0 picks a free one (printed)."


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or a ``BadParameter`` saying what to change."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise typer.BadParameter(f"{host!r} is not an address of this machine ({exc.strerror})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            reason = (
                f"port {port} on {host} is in use: stop what listens there, or pick another (0: any free)"
            )
        elif exc.errno == errno.EACCES:
            reason = f"port {port} needs privileges: pick one above 1023 (0: any free)"
        else:
            reason = f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        raise typer.BadParameter(reason, param_hint="'--port'") from None
    sock.listen(2048)  # connections made right after the banner wait for the server instead of failing
    return sock


def _exit_on_sigterm() -> None:
    """SIGTERM (docker stop, a test ending) unwinds like Ctrl-C, so the sandbox cleans up after itself
    (the Salesforce one removes its temporary folder holding a private key); uvicorn re-raises it."""

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)


@app.command("salesforce")
def salesforce(
    host: str = typer.Option("127.0.0.1", metavar="HOST", help=HOST_HELP),
    port: int = typer.Option(8443, min=0, max=65535, metavar="PORT", help=PORT_HELP + " HTTPS."),
    seed: int = typer.Option(
        0, min=0, metavar="N", help="Create this many realistic leads (and related records) at start."
    ),
) -> None:
    """Serve the Salesforce REST/SOAP emulator over HTTPS with a self-signed certificate."""
    from sandbox.salesforce.server import serve

    sock = bind(host, port)
    _exit_on_sigterm()
    serve(host=host, port=port, seed=seed, sock=sock)


@app.command("hubspot")
def hubspot(
    host: str = typer.Option("127.0.0.1", metavar="HOST", help=HOST_HELP),
    port: int = typer.Option(8090, min=0, max=65535, metavar="PORT", help=PORT_HELP + " HTTP."),
    seed: int = typer.Option(
        0, min=0, metavar="N", help="Create this many realistic contacts (and related records) at start."
    ),
    index_lag_ms: int | None = typer.Option(
        None,
        min=0,
        max=600_000,
        metavar="MS",
        help="Search-index lag in ms (default 2000, as a real portal lags; 0: exact).",
    ),
) -> None:
    """Serve the HubSpot CRM v3 emulator over HTTP."""
    from sandbox.hubspot.server import serve

    sock = bind(host, port)
    _exit_on_sigterm()
    serve(host=host, port=port, seed=seed, sock=sock, index_lag_ms=index_lag_ms)
