"""Request limits for the receivers: body size, body read deadline, header deadline.

Why here and not in each endpoint: a body is refused by its size before any endpoint runs, and a
slow body cannot hold a worker slot longer than ``body_timeout_s`` whichever endpoint reads it.

- ``RequestLimits`` (ASGI middleware): a ``Content-Length`` above the cap is 413 before a byte of
  body is read; a chunked body is counted as it arrives and cut at the cap (413); the whole body must
  arrive within ``body_timeout_s`` of the request starting (408). Any answer given before the body
  was fully read carries ``Connection: close``, so uvicorn drops the connection instead of letting
  the client keep streaming into it.
- ``HeaderDeadlineH11Protocol``: uvicorn (0.30-0.54) arms no timer while a connection is sending its
  request head (``timeout_keep_alive`` starts only after a response, and any byte received cancels
  it), so a client sending half a request line holds the connection forever. This protocol closes a
  connection whose request head is not complete ``header_timeout_s`` after it opened or after its
  previous response.
- ``uvicorn_config`` puts these together with h11's head-size limit, ``timeout_keep_alive`` and
  ``limit_concurrency`` (503 beyond it), so ``crmsync web`` and the tests serve the same thing.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from worker.web.settings import WebSettings

DEFAULT_HEADER_TIMEOUT_S = 10.0


class _BodyRefusedError(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


async def _answer(send: Send, status: int, message: str) -> None:
    body = ('{"error": "' + message + '"}').encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestLimits:
    """ASGI middleware enforcing the body cap and the body read deadline (see the module doc)."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, body_timeout_s: float) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is None:
            await _answer(send, 400, "Content-Length is not a number")
            return
        if length > self.max_body_bytes:
            await _answer(send, 413, f"request body larger than {self.max_body_bytes} bytes")
            return
        deadline = time.monotonic() + self.body_timeout_s
        received = 0
        complete = length == 0 and not _chunked(scope)  # no body to wait for
        started = False

        async def limited_receive() -> Message:
            nonlocal received, complete
            if complete:
                return await receive()  # after the body only http.disconnect can come
            try:
                message = await asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0.0))
            except TimeoutError:
                raise _BodyRefusedError(
                    408, f"request body not received within {self.body_timeout_s:g} s"
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyRefusedError(413, f"request body larger than {self.max_body_bytes} bytes")
                complete = not message.get("more_body", False)
            return message

        async def closing_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if not complete:
                    headers = [h for h in message.get("headers", []) if h[0].lower() != b"connection"]
                    message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, limited_receive, closing_send)
        except _BodyRefusedError as refused:
            if started:
                raise
            await _answer(send, refused.status, refused.message)


def _content_length(scope: Scope) -> int | None:
    """The declared body length (0 when absent); None when the header is not plain digits."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            if not value.isdigit():
                return None
            return int(value[:19])  # more digits than that is over any cap anyway
    return 0


def _chunked(scope: Scope) -> bool:
    return any(name == b"transfer-encoding" for name, _ in scope.get("headers", []))


class HeaderDeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus a deadline for receiving each request head (see the module doc).

    The deadline is read from the uvicorn ``Config`` (attribute ``header_timeout_s``), which uvicorn
    hands to every worker process, so it holds with ``--workers`` too."""

    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_deadline()
        super().connection_lost(exc)

    def _arm_head_deadline(self) -> None:
        self._cancel_head_deadline()
        timeout = float(getattr(self.config, "header_timeout_s", DEFAULT_HEADER_TIMEOUT_S))
        self._head_timer = self.loop.call_later(timeout, self._head_deadline, self.cycle)

    def _cancel_head_deadline(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_deadline(self, cycle_then: Any) -> None:
        # No new request head since the timer was armed, and none in progress: close.
        idle = self.cycle is None or self.cycle.response_complete
        if self.cycle is cycle_then and idle and not self.transport.is_closing():
            self.transport.close()


def uvicorn_config(app: Any, settings: WebSettings, **overrides: Any) -> uvicorn.Config:
    """The uvicorn configuration with every documented limit (``crmsync web`` and tests use it)."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "http": HeaderDeadlineH11Protocol,
        "timeout_keep_alive": settings.timeout_keep_alive_s,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "limit_concurrency": settings.limit_concurrency,
        "server_header": False,
        "proxy_headers": False,
        "log_level": "info",
        "lifespan": "off",
    }
    options.update(overrides)
    config = uvicorn.Config(app, **options)
    config.header_timeout_s = settings.header_timeout_s  # type: ignore[attr-defined]
    return config
