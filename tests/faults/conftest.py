"""Fault injection over the running system: the e2e harness (``tests/e2e/conftest.py``: both sandboxes
over HTTP(S), a real redis-server, ``crmsync worker`` / ``crmsync beat`` processes) plus a workload,
a convergence check every fault test ends with, and a secret scan of everything the runs printed.

Convergence means, for every person the workload made:
- exactly one record per side (no duplicate creates), linked both ways through the ids in the CRMs;
- nothing left in the dirty sets or their leases, and no dead letter (or, where a test expects one, a
  dead letter with the CRM's reason);
- the audit names a create for every record the sync created, and an entry for every person;
- a fixed point: every record marked dirty once more syncs to no write at all (the map's plan for
  the final pair is empty, so both CRMs hold what the map dictates).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from simple_salesforce.api import Salesforce

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.conftest import IN_CI, require_service
from tests.e2e.conftest import Service, running, wait_until
from worker.demo import free_port
from worker.state.audit import AuditLog
from worker.state.deadletters import DeadLetterStore
from worker.state.dirty import Change, DirtySet, Event

CONSUMER_KEY = "sandbox-consumer-key"  # the sandbox's connected app (client credentials, as the demo)
#: settings that make redelivery happen within a test: a killed task's keys come back after the lease,
#: its message after the visibility timeout (Redis broker), its slot after the same.
FAST_RECOVERY = {
    "CRMSYNC_SYNC_LEASE_SECONDS": "8",
    "CRMSYNC_VISIBILITY_TIMEOUT": "20",
    "CRMSYNC_TASK_TIME_LIMIT": "15",
    "CRMSYNC_TASK_SOFT_TIME_LIMIT": "12",
    "CRMSYNC_SYNC_DRAIN_SECONDS": "8",
    "CRMSYNC_SYNC_LOCK_TTL_S": "10",
    "CRMSYNC_SYNC_BATCH_SIZE": "10",
    "CRMSYNC_RETRY_BACKOFF_SECONDS": "0.5",
    "CRMSYNC_RETRY_BACKOFF_MAX_SECONDS": "4",
    "CRMSYNC_MAX_ATTEMPTS": "8",
}
SETTLE_S = 150.0


@dataclass
class Secrets:
    """Every secret the fault runs are configured with; none may appear in anything they print."""

    values: dict[str, str] = field(default_factory=dict)

    def found_in(self, text: str) -> list[str]:
        return [name for name, value in self.values.items() if value and value in text]


@pytest.fixture(scope="module")
def run_secrets() -> Secrets:
    return Secrets()


@pytest.fixture
def faults(
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    redis_client: Any,
    redis_url: str,
    tmp_path: Path,
    run_secrets: Secrets,
) -> Iterator[Service]:
    """The e2e service with secrets of its own (a fresh Salesforce connected-app secret, the HubSpot
    token, Salesforce session ids issued during the run), scanned for in every
    process log when the test ends: a leak fails the test naming the log and the secret's kind."""
    with running(sf_box, hs_box, redis_url, tmp_path) as svc:
        consumer_secret = secrets.token_urlsafe(24)
        sf_box.org.connected_apps[CONSUMER_KEY]["secret"] = consumer_secret
        svc.env.update({"CRMSYNC_SALESFORCE_CONSUMER_SECRET": consumer_secret, **FAST_RECOVERY})
        run_secrets.values.update(
            {"salesforce consumer secret": consumer_secret, "hubspot token": hs_box.token}
        )
        yield svc
        for session_id in list(sf_box.org.sessions):
            run_secrets.values[f"salesforce session {session_id[:6]}…"] = session_id
        for _, log in svc.procs:
            text = log.read_text(errors="replace")
            leaked = run_secrets.found_in(text)
            assert not leaked, f"{log.name} contains {leaked}"


def sf_api(box: SalesforceSandbox) -> Salesforce:
    return Salesforce(instance_url=box.instance_url, session_id=box.new_session_id(), session=box.session())


@dataclass
class Workload:
    """People made through the CRMs' public APIs: leads in Salesforce (each must get one HubSpot contact)
    and MQL contacts in HubSpot (each must get one Salesforce lead)."""

    sf: Salesforce
    hs: Any
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    leads: dict[str, str] = field(default_factory=dict)  # email -> lead id
    contacts: dict[str, str] = field(default_factory=dict)  # email -> contact id

    def make(self, leads: int, contacts: int = 0) -> None:
        for n in range(leads):
            email = f"lead{n}.{self.tag}@example.com"
            self.leads[email] = self.sf.Lead.create(
                {"LastName": f"Lead{n}", "Company": "Faults", "Email": email, "Status": "Working"}
            )["id"]
        for n in range(contacts):
            email = f"contact{n}.{self.tag}@example.com"
            self.contacts[email] = self.hs.crm.contacts.basic_api.create(
                {
                    "properties": {
                        "email": email,
                        "lastname": f"Contact{n}",
                        "lifecyclestage": "marketingqualifiedlead",
                    }
                }
            ).id

    @property
    def emails(self) -> set[str]:
        return set(self.leads) | set(self.contacts)


def hs_contacts(box: HubSpotSandbox, emails: set[str]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    with box.backend.lock:
        for rec in box.portal.stores["contacts"].records.values():
            email = str(rec.props.get("email") or "")
            if email in emails:
                found.setdefault(email, []).append(rec)
    return found


def sf_leads(box: SalesforceSandbox, emails: set[str]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    with box.org.lock:
        for rec in box.org.stores["Lead"].records.values():
            email = str(rec.get("Email") or "")
            if email in emails:
                found.setdefault(email, []).append(dict(rec))
    return found


def settled(state: Any) -> bool:
    """Nothing waiting or leased in any dirty set."""
    dirty_sf, dirty_hs = DirtySet(state, "salesforce"), DirtySet(state, "hubspot")
    pending = dirty_sf.size("Lead") + dirty_sf.size("Contact") + dirty_hs.size("contacts")
    leased = len(dirty_sf.leased("Lead")) + len(dirty_sf.leased("Contact")) + len(dirty_hs.leased("contacts"))
    return pending == 0 and leased == 0


def wait_linked(sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, work: Workload, timeout: float) -> None:
    def unlinked() -> dict[str, tuple[list[Any], list[Any]]]:
        """Each person not (yet) linked both ways: its leads (id, HubSpot id) and contacts (id, lead id)."""
        contacts, leads = hs_contacts(hs_box, work.emails), sf_leads(sf_box, work.emails)
        out = {}
        for email in work.emails:
            ls, cs = leads.get(email, []), contacts.get(email, [])
            if (
                ls
                and cs
                and ls[0].get("HubSpot_Contact_ID__c") == str(cs[0].id)
                and cs[0].props.get("salesforce_lead_id") == ls[0]["Id"]
            ):
                continue
            out[email] = (
                [(r["Id"], r.get("HubSpot_Contact_ID__c")) for r in ls],
                [(c.id, c.props.get("salesforce_lead_id")) for c in cs],
            )
        return out

    try:
        wait_until("every person linked in both CRMs", lambda: not unlinked(), timeout=timeout, every=1.0)
    except pytest.fail.Exception as exc:
        raise AssertionError(f"{exc}; not linked: {unlinked()}") from None


def assert_converged(
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    state: Any,
    work: Workload,
    *,
    timeout: float = SETTLE_S,
    dead_letters_allowed: bool = False,
) -> None:
    try:
        wait_linked(sf_box, hs_box, work, timeout)
    except pytest.fail.Exception as exc:
        letters = [
            (d.person, d.reason, d.detail, [(w.code, w.message) for w in d.writes])
            for d in DeadLetterStore(state).newest(5)
        ]
        raise AssertionError(f"{exc}; dead letters: {letters}") from None
    wait_until("the dirty sets to drain", lambda: settled(state), timeout=timeout, every=0.5)
    contacts, leads = hs_contacts(hs_box, work.emails), sf_leads(sf_box, work.emails)
    dupes = {e: (len(leads.get(e, [])), len(contacts.get(e, []))) for e in work.emails}
    assert all(v == (1, 1) for v in dupes.values()), {e: v for e, v in dupes.items() if v != (1, 1)}

    audit = list(AuditLog(state).entries())
    created = {(e.side, e.record) for e in audit if e.op == "create"}
    unaudited = [
        ("hubspot", str(contacts[email][0].id))
        for email in work.leads
        if ("hubspot", str(contacts[email][0].id)) not in created
    ] + [
        ("salesforce", leads[email][0]["Id"])
        for email in work.contacts
        if ("salesforce", leads[email][0]["Id"]) not in created
    ]
    assert not unaudited, f"creates with no audit entry: {unaudited}"
    letters = DeadLetterStore(state).newest(1000)
    if not dead_letters_allowed:
        assert not letters, [(d.person, d.reason) for d in letters]
    for letter in letters:
        assert letter.reason, letter

    # the fixed point: each record synced once more writes nothing
    before = AuditLog(state).length()
    DirtySet(state, "salesforce").record(
        [Event(f"recheck:{uuid.uuid4().hex}", [Change("Lead", i) for i in work.leads.values()])]
    )
    DirtySet(state, "hubspot").record(
        [Event(f"recheck:{uuid.uuid4().hex}", [Change("contacts", i) for i in work.contacts.values()])]
    )
    wait_until("the re-check to drain", lambda: settled(state), timeout=timeout, every=0.5)
    assert AuditLog(state).length() == before, "syncing converged people again wrote something"


def rabbitmq_url(tag: str) -> Iterator[str]:
    """A vhost of its own on the machine's RabbitMQ (127.0.0.1:5672, guest/guest), deleted afterwards;
    skips locally and fails in CI when RabbitMQ is not there."""
    import socket

    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=2).close()
    except OSError as exc:
        require_service("RabbitMQ on 127.0.0.1:5672", str(exc))
    vhost = f"crmsync-faults-{tag}"
    made = False
    try:
        subprocess.run(["rabbitmqctl", "add_vhost", vhost], check=True, capture_output=True, timeout=60)
        subprocess.run(
            ["rabbitmqctl", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        made = True
    except (OSError, subprocess.SubprocessError):
        if IN_CI:
            raise
        vhost = ""  # no rabbitmqctl here: the default vhost (shared; queues are drained by the test)
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        if made:
            subprocess.run(
                ["rabbitmqctl", "delete_vhost", vhost], check=False, capture_output=True, timeout=60
            )


def state_client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


class OwnRedis:
    """A redis-server of the test's own on a free loopback port (append-only, fsync always), for faults
    that stop, freeze or restart Redis without touching the machine's shared server."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            require_service("redis-server", "not on PATH")
        self.binary = str(binary)
        self.port = free_port()
        self.dir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir), "--save", ""]
        args += ["--appendonly", "yes", "--appendfsync", "always"]
        self.proc = subprocess.Popen(
            [self.binary, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis(port=self.port)
        wait_until("redis-server to answer", lambda: _pings(client), timeout=20, every=0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a frozen server must run to exit
            self.proc.terminate()  # SIGTERM: redis flushes the append-only file and exits
            self.proc.wait(timeout=20)

    def freeze(self) -> None:
        """SIGSTOP: connections stay open and connects succeed, but nothing answers (a partition)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.exceptions.ConnectionError:
        return False


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def start_daemon(
    svc: Service, state: Any, *worker_args: str, **env: str
) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    """A beat and a worker (``-c 2`` unless ``worker_args`` say otherwise), once both CRMs were polled."""
    beat = svc.start("beat", **env)
    worker = svc.start("worker", *(worker_args or ("-c", "2")), **env)
    wait_first_polls(state)
    return beat, worker


def wait_first_polls(state: Any, timeout: float = 60) -> None:
    """Both CRMs polled once (their first cursors stored): changes made from now on are captured."""
    wait_until(
        "the first polls",
        lambda: state.exists("crmsync:cursor:salesforce:Lead", "crmsync:cursor:hubspot:contacts") == 2,
        timeout=timeout,
    )


def audited_twice(state: Any) -> list[tuple[str, str, str, str | None]]:
    """Audit entries naming the same value written to the same field of the same record more than once:
    a change applied (or counted) twice."""
    seen: dict[tuple[str, str, str, str | None], int] = {}
    for e in AuditLog(state).entries():
        key = (e.side, e.record, e.field, e.after)
        seen[key] = seen.get(key, 0) + 1
    return [k for k, n in seen.items() if n > 1]


class OwnRabbitMQ:
    """A RabbitMQ node of the test's own (free AMQP and distribution ports, its own data directory),
    for faults that stop the broker without touching the machine's shared RabbitMQ. The server drops
    to the ``rabbitmq`` user, so its directory lives outside pytest's private temporary folder."""

    def __init__(self) -> None:
        binary, ctl = shutil.which("rabbitmq-server"), shutil.which("rabbitmqctl")
        if binary is None or ctl is None:
            require_service("rabbitmq-server", "not on PATH")
        self.binary, self.ctl = str(binary), str(ctl)
        self.node = f"crmsync-faults-{uuid.uuid4().hex[:8]}@localhost"
        self.port, self.dist_port = free_port(), free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="crmsync-faults-rabbitmq-"))
        (self.dir / "enabled_plugins").write_text("[].\n")
        (self.dir / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")
        for sub in ("mnesia", "log"):
            (self.dir / sub).mkdir()
        try:
            for path in (self.dir, *self.dir.iterdir()):
                shutil.chown(path, "rabbitmq", "rabbitmq")
        except (LookupError, PermissionError) as exc:
            shutil.rmtree(self.dir, ignore_errors=True)
            require_service("a RabbitMQ node of the test's own", f"cannot hand it a directory: {exc}")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("RABBITMQ_")},
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": os.devnull,
        }
        log = (self.dir / "server.out").open("ab")
        self.proc = subprocess.Popen(
            [self.binary], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_until("RabbitMQ to accept connections", self._answers, timeout=120, every=0.5)

    def _answers(self) -> bool:
        import socket

        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        """A clean shutdown (durable queues and persistent messages are kept on disk)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        subprocess.run([self.ctl, "-n", self.node, "shutdown"], check=False, capture_output=True, timeout=90)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


#: kombu's Redis transport can die on a connection lost mid-acknowledgement ("Unrecoverable error:
#: AttributeError: 'NoneType' object has no attribute 'hostname'", the race of celery/kombu #582): the
#: worker process exits and needs its supervisor (docker-compose ``restart:``, systemd) to come back.
KOMBU_ACK_RACE = "Unrecoverable error: AttributeError(\"'NoneType' object has no attribute 'hostname'\")"


def supervise_worker(svc: Service, worker: subprocess.Popen[bytes], *args: str) -> subprocess.Popen[bytes]:
    """Start the worker again, as its supervisor would, only when it died of kombu's known ack race;
    any other exit fails the test."""
    if worker.poll() is None:
        return worker
    log = svc.log_of(worker)
    assert KOMBU_ACK_RACE in log, f"the worker exited ({worker.returncode}):\n{log[-3000:]}"
    return svc.start("worker", *(args or ("-c", "2")))


def after_broker_outage(
    svc: Service, worker: subprocess.Popen[bytes], *args: str, timeout: float = 90
) -> subprocess.Popen[bytes]:
    """Wait until the worker reconnected to its broker (or died of kombu's ack race: then it is started
    again, as its supervisor would); returns the worker now running."""
    wait_until(
        "the worker to reconnect",
        lambda: worker.poll() is not None or svc.log_of(worker).count("] Connected to ") >= 2,
        timeout=timeout,
    )
    return supervise_worker(svc, worker, *args)
