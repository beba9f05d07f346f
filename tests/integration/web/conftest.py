"""Serve ASGI apps on a loopback port in a background thread (real HTTP for receiver tests), with the
same uvicorn configuration ``crmsync web`` uses (``worker.web.limits.uvicorn_config``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from worker.web.limits import uvicorn_config
from worker.web.settings import WebSettings


@contextmanager
def serve_in_thread(app: Any, settings: WebSettings | None = None) -> Iterator[str]:
    config = uvicorn_config(app, settings or WebSettings(), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.01)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
