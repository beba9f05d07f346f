"""The workers' own metrics, kept in Redis so every worker process on every host adds to one set of
figures and any web process can serve them (``GET /metrics`` reads them at scrape time).

Why Redis and not prometheus-client's multiprocess mode: that mode shares figures through files in one
directory, so it needs every process (Celery's prefork children, each ``crmsync worker`` host, the
web app) on one machine and a directory cleaned when a process dies; a Celery worker's figures would
be scraped per host and lost with its files. Redis is already the one store every process reaches.

One hash, ``crmsync:metrics`` (fields joined by ``|``):

- ``changes_seen|{crm}`` — change signals marked dirty (webhook events, Outbound Message
  notifications, callouts, polled records);
- ``writes|{crm}|{op}`` — writes applied (``create``, ``update``, ``move_back``);
- ``rejected|{crm}|{code}`` — writes the CRM rejected, by its error code;
- ``retries|{crm}|{reason}`` — calls the adapters retried, by the failure's code (or HTTP status);
- ``outcomes|{disposition}`` — record keys synced, by disposition;
- ``latency|{crm}|{le}`` / ``latency_sum|{crm}`` / ``latency_count|{crm}`` — the change-to-write
  histogram: per person and side written, from when its change was first marked dirty
  (``crmsync:dirty-seen:*``) to when the write was applied. Buckets are stored per bucket (not
  cumulative); the exposition adds them up.

A ``Tally`` collects one batch's increments in memory and adds them to a pipeline the caller executes
with its own writes, so counting costs no round trip of its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from worker.state import keys

LATENCY_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


def _label(value: object) -> str:
    return str(value or "unknown").replace("|", "/")[:80]


def bucket(seconds: float) -> str:
    """The bucket an observation falls in (its upper bound, ``+Inf`` past the last)."""
    for le in LATENCY_BUCKETS:
        if seconds <= le:
            return repr(le)
    return "+Inf"


class Tally:
    """Increments gathered in memory, then added to a pipeline in one go."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.sums: dict[str, float] = {}

    def __bool__(self) -> bool:
        return bool(self.counts or self.sums)

    def inc(self, *parts: object, n: int = 1) -> None:
        if n:
            self.counts["|".join(_label(p) for p in parts)] += n

    def observe_latency(self, crm: str, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.inc("latency", crm, bucket(seconds))
        self.inc("latency_count", crm)
        name = f"latency_sum|{_label(crm)}"
        self.sums[name] = self.sums.get(name, 0.0) + seconds

    def into(self, pipe: Any) -> None:
        for name, n in self.counts.items():
            pipe.hincrby(keys.METRICS, name, n)
        for name, total in self.sums.items():
            pipe.hincrbyfloat(keys.METRICS, name, round(total, 6))

    def flush(self, redis: Any) -> None:
        if self:
            pipe = redis.pipeline(transaction=False)
            self.into(pipe)
            pipe.execute()


def read(redis: Any) -> dict[str, float]:
    return {keys.text(k) or "": float(keys.text(v) or 0) for k, v in redis.hgetall(keys.METRICS).items()}


def families(raw: dict[str, float]) -> Iterator[Any]:
    """The hash as Prometheus metric families (counters and one histogram)."""
    from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

    specs = {
        "changes_seen": ("crmsync_changes_seen", "Change signals marked dirty, per CRM.", ["crm"]),
        "writes": ("crmsync_writes", "Writes applied, per CRM and operation.", ["crm", "op"]),
        "rejected": (
            "crmsync_write_rejections",
            "Writes a CRM rejected, per CRM and error code.",
            ["crm", "code"],
        ),
        "retries": ("crmsync_retries", "CRM calls retried, per CRM and reason.", ["crm", "reason"]),
        "outcomes": ("crmsync_sync_outcomes", "Record keys synced, per disposition.", ["disposition"]),
    }
    made = {name: CounterMetricFamily(m, doc, labels=labels) for name, (m, doc, labels) in specs.items()}
    per_bucket: dict[str, dict[str, float]] = {}
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for field, value in sorted(raw.items()):
        name, *labels = field.split("|")
        if name in made and len(labels) == len(specs[name][2]):
            made[name].add_metric(labels, value)
        elif name == "latency" and len(labels) == 2:
            per_bucket.setdefault(labels[0], {})[labels[1]] = value
        elif name == "latency_sum" and len(labels) == 1:
            sums[labels[0]] = value
        elif name == "latency_count" and len(labels) == 1:
            counts[labels[0]] = value
    yield from made.values()
    hist = HistogramMetricFamily(
        "crmsync_change_to_write_seconds",
        "From a change first marked dirty to its write applied, per CRM written.",
        labels=["crm"],
    )
    for crm in sorted(set(per_bucket) | set(counts)):
        got = per_bucket.get(crm, {})
        running = 0.0
        buckets: list[tuple[str, float]] = []
        for le in LATENCY_BUCKETS:
            running += got.get(repr(le), 0.0)
            buckets.append((repr(le), running))
        buckets.append(("+Inf", counts.get(crm, running + got.get("+Inf", 0.0))))
        hist.add_metric([crm], buckets, sum_value=sums.get(crm, 0.0))
    yield hist
