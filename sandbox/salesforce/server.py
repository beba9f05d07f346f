"""The ASGI app, an in-process server for tests/benches (``SalesforceSandbox``) and ``serve()`` for the CLI.

Per request, in order: route → bearer session (401 INVALID_SESSION_ID, JSON array body) → daily API
allocation (403 REQUEST_LIMIT_EXCEEDED) → injected faults → handler. SOAP calls take the same injected
faults, answered as SOAP faults (HTTP 500); convertLead counts against the allocation in its handler
(it finds its org from the SessionHeader) and answers with a LimitInfoHeader. Every authenticated REST
response carries ``Sforce-Limit-Info: api-usage=N/M`` (api_rest headers_api_usage.htm)
(not the versions resource).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from email.utils import formatdate
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

import requests
import uvicorn

from sandbox.salesforce import errors as err
from sandbox.salesforce import responses as resp
from sandbox.salesforce import versions
from sandbox.salesforce.models import FAULT_ERRORS, Backend, Org
from sandbox.salesforce.routes import allowed_methods, match
from sandbox.salesforce.seed import seed_org
from sandbox.salesforce.tls import CertFiles, make_certificates

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


FAULT_KINDS = ("error", "slow", "drop", "drop_after", "expire_session")
# "In each REST call, the maximum length for the combined URI and headers is 16,384 bytes … If the URI
# itself exceeds this limit, the request returns a 414 URI Too Long error" (help.salesforce.com
# article 000386264). The body of that answer is UNVERIFIED (a front-end page, not a JSON error array).
MAX_URI_BYTES = 16_384
URI_TOO_LONG = "<html><body><h1>414 Request-URI Too Long</h1></body></html>"


class DroppedConnectionError(Exception):
    """Raised after a partial response so the server closes the socket mid-body (a dropped connection)."""


class SalesforceApp:
    """A raw ASGI app (Starlette's request parsing is not needed on this hot path)."""

    def __init__(self, backend: Backend, base_url: str = "") -> None:
        self.backend = backend
        self.base_url = base_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        # Header values are ISO-8859-1 on the wire (RFC 9110 §5.5): a byte that is not UTF-8 is just a
        # character that matches no session or option, never a crash.
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        method = scope["method"]
        path = scope["path"]
        raw_target = scope.get("raw_path", b"") + b"?" + scope.get("query_string", b"")
        if len(raw_target) > MAX_URI_BYTES:
            reply, drop = resp.Reply(414, URI_TOO_LONG, content_type="text/html;charset=UTF-8"), False
        else:
            query_string = scope.get("query_string", b"").decode("latin-1")
            reply, drop = await self.handle(method, path, query_string, headers, body)
        payload = reply.encode()
        out_headers = [
            # The org's clock (``clock_offset_ms`` moves it), not the host's: every HTTP answer carries
            # ``Date`` (RFC 9110 §6.6.1; api_rest headers_api_usage.htm shows it on a REST answer), and
            # the worker reads Salesforce's "now" from it. Uvicorn's own Date header is switched off.
            (b"date", formatdate(self.backend.default_org.now_ms() / 1000, usegmt=True).encode()),
            (b"content-type", reply.content_type.encode()),
            (b"content-length", str(len(payload)).encode()),
        ]
        out_headers += [(k.encode(), v.encode()) for k, v in reply.headers.items()]
        if reply.status == 204:
            out_headers = [(k, v) for k, v in out_headers if k not in {b"content-type", b"content-length"}]
            payload = b""
        await send({"type": "http.response.start", "status": reply.status, "headers": out_headers})
        if drop:
            await send(
                {"type": "http.response.body", "body": payload[: len(payload) // 2], "more_body": True}
            )
            raise DroppedConnectionError("sandbox fault: connection dropped mid-response")
        await send({"type": "http.response.body", "body": payload})

    async def handle(
        self, method: str, path: str, query_string: str, headers: dict[str, str], body: bytes
    ) -> tuple[resp.Reply, bool]:
        found = match(method, path)
        if found is None:
            allowed = allowed_methods(path)
            if allowed:  # message UNVERIFIED (errorcodes.htm lists 405 for a method the URI doesn't allow)
                refusal = [
                    {
                        "errorCode": "METHOD_NOT_ALLOWED",
                        "message": f"HTTP Method '{method}' not allowed. Allowed are {','.join(allowed)}",
                    }
                ]
                return resp.Reply(405, refusal), False
            return resp.Reply(404, err.NotFound().rest_body()), False
        route, params = found
        ctx = resp.Ctx(
            backend=self.backend,
            method=method,
            path=path,
            params=params,
            query=parse_qs(query_string, keep_blank_values=True),
            headers=headers,
            body=body,
            base_url=self.base_url,
        )
        org: Org | None = None
        drop_after = False
        soap = path.startswith("/services/Soap/")
        try:
            fault = None
            if "v" in params:
                self._check_version(params["v"], soap)
            if route.rest:
                auth = headers.get("authorization", "")
                token = auth[7:] if auth[:7].lower() == "bearer " else ""
                org, ctx.session = self.backend.org_for_token(token)
                ctx.org = org
                org.count_api_call(method, path, ctx.query.get("q", [""])[0])
                fault = org.take_fault(method, path, FAULT_KINDS)
            elif soap:  # SOAP calls take the same injected faults (answered as SOAP faults below)
                fault = self.backend.default_org.take_fault(method, path, FAULT_KINDS)
            if fault is not None:
                if fault.kind == "slow":
                    await asyncio.sleep(fault.delay)
                elif fault.kind == "drop":
                    return resp.Reply(200, b"{" * 64), True
                elif fault.kind == "drop_after":
                    drop_after = True
                elif fault.kind == "expire_session":
                    (org or self.backend.default_org).expire_sessions()
                    raise err.InvalidSessionId()
                else:
                    raise FAULT_ERRORS[fault.error_code]()
            reply = route.handler(ctx)
        except err.SalesforceApiError as exc:
            if soap:
                reply = resp.soap_fault(exc.error_code, exc.message, "UnexpectedErrorFault")
            else:
                reply = resp.Reply(exc.status, exc.rest_body())
        except Exception:  # a sandbox bug: answer as Salesforce answers its own faults, keep serving
            failure = err.ServerError("An unexpected error occurred. Please include this ErrorId")
            reply = resp.Reply(500, failure.rest_body())
        if org is not None:
            reply.headers["Sforce-Limit-Info"] = org.limit_info()
        return reply, drop_after

    def _check_version(self, text: str, soap: bool) -> None:
        """Retired versions: REST 410 GONE, SOAP UNSUPPORTED_API_VERSION; versions newer than the org's
        release: REST 404 NOT_FOUND, SOAP UNSUPPORTED_API_VERSION (sources in ``versions.py``). Checked
        before the session (UNVERIFIED: the order on a real org)."""
        version = versions.parse(text)
        latest = self.backend.default_org.latest_api_version
        if version is not None and versions.is_retired(version):
            if soap:
                raise err.UnsupportedApiVersion(
                    f"The API version that was specified ({text}) is below the minimum supported "
                    f"({versions.OLDEST_SUPPORTED}). Change the version number and run the request again."
                )
            raise err.Gone(text)
        if version is None or versions.is_unreleased(version, latest):
            if soap:
                raise err.UnsupportedApiVersion("Invalid Api version specified on URL")
            raise err.NotFound()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class SalesforceSandbox:
    """In-process HTTPS sandbox on an ephemeral loopback port (context manager).

    ``instance_url`` is what a ``Salesforce(instance_url=…, session_id=…)`` client needs; ``ca_path`` is
    the CA to trust (``session.verify``); ``org`` is the model for seeding and assertions; ``session()``
    gives a ``requests.Session`` that trusts the CA.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        cert_dir: Path | None = None,
        public_host: str | None = None,
    ) -> None:
        self.host = host
        # Binding every interface still needs one name for clients (certificate, login answers).
        self.public_host = public_host or ("127.0.0.1" if host in {"0.0.0.0", "::", ""} else host)
        self.port = port or free_port(host)
        self.seed = seed
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if cert_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="sf-sandbox-")
            cert_dir = Path(self._tmp.name)
        hosts = tuple(dict.fromkeys(("127.0.0.1", "::1", "localhost", self.public_host)))
        self.certs: CertFiles = make_certificates(cert_dir, hosts)
        self.backend = Backend()
        self.app = SalesforceApp(self.backend, self.instance_url)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def instance_url(self) -> str:
        return f"https://{self.public_host}:{self.port}"

    @property
    def ca_path(self) -> Path:
        return self.certs.ca_path

    @property
    def org(self) -> Org:
        return self.backend.default_org

    def session(self) -> requests.Session:
        s = requests.Session()
        # requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override ``session.verify`` (psf/requests#3829)
        # unless the session ignores the environment; loopback needs no proxy settings either.
        s.trust_env = False
        s.verify = str(self.ca_path)
        return s

    def new_session_id(self) -> str:
        """A fresh session for the admin user (what a direct-session client is given)."""
        return self.org.new_session(self.org.admin_id).token

    def start(self) -> SalesforceSandbox:
        if self.seed:
            seed_org(self.org, self.seed)
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.port,
            ssl_certfile=str(self.certs.cert_path),
            ssl_keyfile=str(self.certs.key_path),
            log_level="critical",
            lifespan="off",
            access_log=False,
            date_header=False,
            timeout_keep_alive=30,
            timeout_graceful_shutdown=1,
            h11_max_incomplete_event_size=64 * 1024,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="salesforce-sandbox", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("salesforce sandbox did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True  # don't wait for idle keep-alive clients
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> SalesforceSandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # control helpers (same operations as the /_sandbox HTTP surface)
    def reset(self) -> None:
        self.backend.reset()

    def add_fault(self, kind: str, **options: Any) -> None:
        from sandbox.salesforce.models import FaultRule

        self.org.faults.append(FaultRule(kind=kind, **options))

    def set_field_access(self, obj: str, field: str, access: str, user_id: str | None = None) -> None:
        """Field-level security for ``user_id`` (default: the admin, the connected app's run-as user):
        ``none`` hides the field, ``read`` makes it read-only, ``edit`` restores it."""
        self.org.set_access(user_id or self.org.admin_id, obj, field, access)

    def add_record_type(
        self, obj: str, developer_name: str, values: dict[str, list[str]], *, default: bool = False
    ) -> str:
        """A record type whose restricted picklists allow only ``values[field]``; returns its id."""
        return self.org.add_record_type(obj, developer_name, values, default=default)

    def add_automation(self, **spec: Any) -> Any:
        """A flow or trigger that runs on save (``sandbox.salesforce.automation.Automation``)."""
        return self.org.add_automation(**spec)

    def clear_faults(self) -> None:
        self.org.faults.clear()

    def merge(self, obj: str, master: str, losers: list[str]) -> dict[str, Any]:
        """Merge records as the UI does, as the admin (``POST /_sandbox/merge``)."""
        return self.org.merge(obj, master, losers, self.org.admin_id)

    def enable_outbound(self, url: str, *, initial_delay: float = 0.05, max_delay: float = 2.0) -> Any:
        """Send Outbound Messages for Lead/Contact changes to ``url`` (returns the sender)."""
        from sandbox.salesforce.outbound import OutboundSender

        org = self.org
        org.outbound_url = url
        if org.outbound is None:
            org.outbound = OutboundSender(
                org, self.instance_url, initial_delay=initial_delay, max_delay=max_delay
            )
        return org.outbound


def serve(host: str, port: int, seed: int, sock: socket.socket | None = None) -> None:
    """Run the sandbox until interrupted; prints the base URL, the CA path and the login details.

    ``sock``, already bound (the CLI binds first so a port in use fails before any banner), decides
    the port. In a container set ``CRMSYNC_SANDBOX_SALESFORCE_PUBLIC_HOST`` to the name clients use (it
    goes into the certificate and the login answers) and ``CRMSYNC_SANDBOX_SALESFORCE_CERT_DIR`` to a
    shared volume so clients can read ``ca.pem``; otherwise the CA and the private key live in a
    temporary folder removed on exit.
    """
    if sock is not None:
        port = int(sock.getsockname()[1])
    shared_dir = os.environ.get("CRMSYNC_SANDBOX_SALESFORCE_CERT_DIR")
    with tempfile.TemporaryDirectory(prefix="sf-sandbox-") as tmp:
        cert_dir = Path(shared_dir or tmp)
        public_host = os.environ.get("CRMSYNC_SANDBOX_SALESFORCE_PUBLIC_HOST") or None
        sandbox = SalesforceSandbox(host=host, port=port, seed=0, cert_dir=cert_dir, public_host=public_host)
        if seed:
            made = seed_org(sandbox.org, seed)
            print(f"seeded: {json.dumps(made)}", flush=True)
        print(f"Salesforce sandbox at {sandbox.instance_url}", flush=True)
        print(
            f"CA certificate: {sandbox.ca_path}  (REQUESTS_CA_BUNDLE / CRMSYNC_SALESFORCE_CA_BUNDLE)",
            flush=True,
        )
        print(
            "login: OAuth client credentials sandbox-consumer-key / sandbox-consumer-secret "
            "(CRMSYNC_SALESFORCE_DOMAIN=sandbox.my); "
            "legacy SOAP: admin@crm-sync.sandbox / password + token TOKEN",
            flush=True,
        )
        config = uvicorn.Config(
            sandbox.app,
            host=host,
            port=sandbox.port,
            ssl_certfile=str(sandbox.certs.cert_path),
            ssl_keyfile=str(sandbox.certs.key_path),
            log_level="info",
            lifespan="off",
            date_header=False,
            h11_max_incomplete_event_size=64 * 1024,
        )
        uvicorn.Server(config).run(sockets=[sock] if sock is not None else None)
