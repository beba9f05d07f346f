"""``python -m bench``: run every benchmark script and print ONE table, each figure with its limit.

Each script under ``bench/`` runs as its own process (quick sizes by default, ``--full`` for the sizes
their docstrings publish) against a throw-away ``redis-server`` on a free loopback port (or
``CRMSYNC_BENCH_REDIS_URL``); its printed figures are read back and set against their limits:

- plans/s against 50,000 (issue 2), and the cost of one plan against decoding the two records' JSON;
- per CRM adapter: records/s and API calls per record against the batch minimum (ratio; ≤ 1.1 wanted);
- the sync service: people/s and calls per person against the batch minimum;
- HubSpot: the share of the 10-second rate ceiling sustained (≥ 90 %) and the count of 429 answers;
- the daemon: change-to-write latency p50/p95 on the poll path and on the webhook path (``crmsync web``
  receiving the sandboxes' webhooks and Outbound Messages) against their targets;
- the receivers: webhook answer p50/p95 against HubSpot's 5 s timeout;
- the backfill through 1, 2 and 4 workers: people/s as a share of the HubSpot budget's bound with the
  limits on (>= 90 %), without limits (scaling), with 150 ms per call (>= 90 %); API calls per person
  per CRM against the batch minimum; the workers' peak RSS (< 300 MB), and that of a chunk's
  in-memory work over 20,000 (``--full``: 1,000,000) people;
- Redis memory per 1,000,000 people (links + bases) and per 1,000,000 audit entries, extrapolated
  from 20,000 (``--full``: 100,000) written through the state stores;
- the workers' metrics: Redis round trips per sync batch of 50 (first sight; status change) against
  the README's published counts, and the metrics' own work per batch against 1 ms;
- the admin API's token check: time to refuse a token wrong at its last byte over one wrong at its
  first (1.00 ± 0.05), beside a byte-by-byte control that must show a clear ratio;
- peak RSS of every benchmark process (``wait4``), and the machine (cores, load) it ran on.

A figure a script did not print (a crash, a renamed line) is shown as ``missing`` and the command
exits 1, so a broken bench cannot pass silently.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
NUM = r"([\d,]+(?:\.\d+)?)"


def num(text: str) -> float:
    return float(text.replace(",", ""))


@dataclass
class Row:
    area: str
    figure: str
    value: str
    limit: str = ""
    ratio: str = ""

    def cells(self) -> list[str]:
        return [self.area, self.figure, self.value, self.limit, self.ratio]


@dataclass
class Script:
    """One benchmark script, its quick and full arguments, and how to read its figures."""

    name: str
    quick: list[str]
    full: list[str]
    read: Callable[[str], list[Row]]
    redis_arg: str | None = None  # a --flag taking the Redis URL (else CRMSYNC_BENCH_REDIS_URL)
    label: str = ""  # the name in the table (default: the script's)

    @property
    def title(self) -> str:
        return self.label or self.name.removesuffix(".py")


def find(pattern: str, text: str) -> re.Match[str] | None:
    return re.search(pattern, text, re.MULTILINE)


def read_plan(out: str) -> list[Row]:
    rows: list[Row] = []
    m = find(rf"plan\(\):\s+{NUM} plans/s\s+\({NUM} us/plan\)", out)
    if m:
        plans, us = num(m[1]), num(m[2])
        rows.append(
            Row("planner", "plans/s (CPU time)", f"{plans:,.0f}", ">= 50,000", f"{plans / 50_000:.2f}")
        )
        decode_us = json_decode_us()
        rows.append(
            Row(
                "planner",
                "one plan vs decoding its two records' JSON",
                f"{us:.1f} us vs {decode_us:.1f} us",
                "",
                f"{us / decode_us:.2f}x",
            )
        )
    m = find(rf"normalise \+ plan\(\):\s+{NUM} plans/s", out)
    if m:
        rows.append(Row("planner", "normalise JSON + plan /s", f"{num(m[1]):,.0f}"))
    return rows


def json_decode_us(rounds: int = 20_000) -> float:
    """CPU time to decode the shipped example lead and contact (the JSON a plan's inputs come from)."""
    texts = [(ROOT / "examples" / n).read_text() for n in ("salesforce-lead.json", "hubspot-contact.json")]
    t0 = time.process_time()
    for _ in range(rounds):
        for t in texts:
            json.loads(t)
    return (time.process_time() - t0) * 1e6 / rounds


def read_salesforce(out: str) -> list[Row]:
    rows = []
    pattern = rf"^(.+?)\s+{NUM} records\s+\S+ s\s+{NUM} rec/s\s+calls\s+{NUM} \(min {NUM}, {NUM}x"
    for m in re.finditer(pattern, out, re.MULTILINE):
        label = m[1].strip()
        rows.append(
            Row(
                "Salesforce adapter",
                f"{label}: rec/s; calls vs batch minimum",
                f"{num(m[3]):,.0f} rec/s; {num(m[4]):.0f} calls",
                f"min {num(m[5]):.0f} (<= 1.1x)",
                f"{num(m[6]):.2f}x",
            )
        )
    return rows


def read_hubspot(out: str) -> list[Row]:
    rows = []
    for what in ("read", "update"):
        m = find(
            rf"^{what}:\s+\S+ records in \S+ s = {NUM} records/s; {NUM} \w+ calls vs minimum {NUM} = {NUM}x",
            out,
        )
        if m:
            rows.append(
                Row(
                    "HubSpot adapter",
                    f"{what}: rec/s; calls vs batch minimum",
                    f"{num(m[1]):,.0f} rec/s; {num(m[2]):.0f} calls",
                    f"min {num(m[3]):.0f} (<= 1.1x)",
                    f"{num(m[4]):.3f}x",
                )
            )
    m = find(rf"= {NUM}% of the ceiling; {NUM} answered 429", out)
    if m:
        share = num(m[1])
        rows.append(
            Row(
                "HubSpot adapter",
                "share of the 10-s rate ceiling",
                f"{share:.1f} %",
                ">= 90 %",
                f"{share / 90:.2f}",
            )
        )
        rows.append(Row("HubSpot adapter", "calls answered 429 (throttled run)", f"{num(m[2]):.0f}", "0", ""))
    return rows


def read_sync_service(out: str) -> list[Row]:
    rows = []
    pattern = (
        rf"^(.+?)\s+{NUM} people\s+\S+ s\s+{NUM} people/s.*?"
        rf"calls\s+{NUM} = (\S+)/person \(batch minimum {NUM}, {NUM}x\)"
    )
    for m in re.finditer(pattern, out, re.MULTILINE):
        rows.append(
            Row(
                "sync service",
                f"{m[1].strip()}: people/s; calls/person",
                f"{num(m[3]):,.0f}/s; {m[5]}",
                f"min {num(m[6]):.0f} calls",
                f"{num(m[7]):.2f}x",
            )
        )
    return rows


def read_sync_runtime(out: str) -> list[Row]:
    rows = []
    m = find(rf"initial sync: {NUM} people in \S+ = {NUM} people/s", out)
    if m:
        rows.append(Row("daemon", "initial sync of linked people", f"{num(m[2]):,.0f} people/s"))
    for m in re.finditer(
        rf"^\s+(salesforce|hubspot)\s+change to other side written \((poll|webhook) path\): "
        rf"p50 {NUM}s p95 {NUM}s; target p95 <= {NUM}s: {NUM} of the limit",
        out,
        re.MULTILINE,
    ):
        rows.append(
            Row(
                "daemon",
                f"{m[1]} change -> write, {m[2]} path p50/p95",
                f"{num(m[3]):.2f} s / {num(m[4]):.2f} s",
                f"p95 <= {num(m[5]):g} s",
                f"{num(m[6]):.2f}",
            )
        )
    m = find(rf"batch minimum {NUM} .*?: {NUM}x", out)
    if m:
        rows.append(
            Row(
                "daemon",
                "sync API calls vs batch minimum",
                "",
                f"min {num(m[1]):.0f} (<= 1.1x)",
                f"{num(m[2]):.2f}x",
            )
        )
    m = find(rf"worker RSS .*?: {NUM} MB", out)
    if m:
        rows.append(Row("daemon", "worker RSS (main + 2 pool)", f"{num(m[1]):.0f} MB"))
    return rows


def read_web(out: str) -> list[Row]:
    rows = []
    m = find(rf"p50 {NUM} ?ms.*?p95 {NUM} ?ms", out)
    if m:
        p95 = num(m[2])
        rows.append(
            Row(
                "receivers",
                "HubSpot webhook answer p50/p95",
                f"{num(m[1]):.1f} / {p95:.1f} ms",
                "5,000 ms",
                f"{p95 / 5000:.3f}",
            )
        )
    return rows


def read_backfill(out: str) -> list[Row]:
    rows: list[Row] = []
    pattern = (
        rf"^(limits|off|latency)\s+(\d+) worker\(s\) \((.+?)\): {NUM} people in \S+ s = {NUM} people/s "
        rf"\((.+?)\); .*?salesforce calls \S+ = (\S+)/person \(batch minimum \S+, {NUM}x\); "
        rf"hubspot calls \S+ = (\S+)/person \(batch minimum \S+, {NUM}x\); HubSpot 429s (\d+); "
        rf"peak RSS per worker process {NUM} MB .*?load average {NUM}"
    )
    calls: dict[str, tuple[float, float]] = {}
    rss = 0.0
    for m in re.finditer(pattern, out, re.MULTILINE):
        mode, workers, people, rate, share = m[1], m[2], num(m[4]), num(m[5]), m[6]
        figure = f"{mode}: {people:,.0f} people, {workers} worker(s) {m[3]} (load {num(m[13]):.1f})"
        if mode == "off":
            rows.append(Row("backfill", figure, f"{rate:,.0f} people/s", "", share.split(" ", 1)[0]))
        else:
            pct = num(share.split("%", 1)[0])
            value = f"{rate:,.0f} people/s = {pct:.1f} % of bound"
            rows.append(Row("backfill", figure, value, ">= 90 % of bound", f"{pct / 90:.2f}"))
        sf, hs = calls.get(mode, (0.0, 0.0))
        calls[mode] = (max(sf, num(m[8])), max(hs, num(m[10])))
        if int(m[11]):
            rows.append(Row("backfill", f"{mode}: HubSpot 429s ({workers} workers)", m[11], "0"))
        rss = max(rss, num(m[12]))
    for mode, (sf, hs) in calls.items():
        figure = f"{mode}: API calls vs batch minimum, Salesforce / HubSpot (worst run)"
        rows.append(Row("backfill", figure, "", "<= 1.1x", f"{sf:.2f}x / {hs:.2f}x"))
    if rss:
        figure = "peak RSS per worker process (all runs)"
        rows.append(Row("backfill", figure, f"{rss:.0f} MB", "< 300 MB", f"{rss / 300:.2f}"))
    return rows


def read_backfill_rss(out: str) -> list[Row]:
    m = find(
        rf"^chunk work for {NUM} people in \S+ s: peak RSS {NUM} MB \(limit 300 MB: {NUM}\); .*?"
        rf"grew ([-+][\d.]+) MB",
        out,
    )
    if not m:
        return []
    figure = f"peak RSS of a chunk's in-memory work over {num(m[1]):,.0f} people (grew {m[4]} MB)"
    return [Row("backfill", figure, f"{num(m[2]):.0f} MB", "< 300 MB", f"{num(m[3]):.2f}")]


def read_state_memory(out: str) -> list[Row]:
    rows = []
    for what, label in (("links \\+ bases", "links + bases"), ("audit", "audit")):
        m = find(
            rf"^{what}: {NUM} (?:people|entries) = .*?= {NUM} B/\w+;.*?extrapolated: {NUM} MB per "
            rf"1,000,000 (\w+) \(limit {NUM} MB: {NUM}\)",
            out,
        )
        if m:
            figure = f"{label} per 1,000,000 {m[4]} ({num(m[2]):.0f} B each; measured at {num(m[1]):,.0f})"
            limit = f"{num(m[5]):,.0f} MB (reference)"
            rows.append(Row("Redis", figure, f"{num(m[3]):,.0f} MB", limit, f"{num(m[6]):.2f}"))
    return rows


ROUND_TRIPS = {"first sight": 118, "status changed": 15}  # per batch of 50 (README, metrics)


def read_metrics_cost(out: str) -> list[Row]:
    rows = []
    trips_line = rf"^sync (first sight|status changed)\s+{NUM} Redis round trips per batch of (\d+)"
    for m in re.finditer(trips_line, out, re.MULTILINE):
        trips, ref = num(m[2]), ROUND_TRIPS[m[1]]
        figure = f"Redis round trips per sync batch of {m[3]}: {m[1]}"
        rows.append(Row("metrics", figure, f"{trips:.1f}", f"{ref} (published)", f"{trips / ref:.2f}"))
    pattern = rf"^per batch of (\d+): (.+?)\s+{NUM} us\s+\(limit {NUM} us: {NUM}\)"
    for m in re.finditer(pattern, out, re.MULTILINE):
        value, limit = f"{num(m[3]):,.0f} us", f"{num(m[4]):,.0f} us"
        rows.append(Row("metrics", f"per batch of {m[1]}: {m[2]}", value, limit, m[5]))
    return rows


def read_admin_token(out: str) -> list[Row]:
    rows = []
    m = find(rf"wrong first byte: {NUM} ns; wrong last byte only: {NUM} ns", out)
    r = find(rf"\(last/first wrong byte\): {NUM} \(limit 1.00 ± {NUM}: {NUM} of the allowance\)", out)
    if m and r:
        value = f"{num(m[1]):,.0f} / {num(m[2]):,.0f} ns = {num(r[1]):.3f}"
        figure, limit = "token check: wrong first / last byte", f"1.00 ± {num(r[2]):.2f}"
        rows.append(Row("admin API", figure, value, limit, f"{num(r[3]):.2f}"))
    c = find(rf"control, a byte-by-byte comparison: {NUM} ns vs {NUM} ns, ratio {NUM}", out)
    if c:
        figure = "control (byte-by-byte compare): first / last byte"
        value = f"{num(c[1]):,.0f} / {num(c[2]):,.0f} ns"
        rows.append(Row("admin API", figure, value, "well past 1.05", f"{num(c[3]):.2f}x"))
    return rows


SCRIPTS = [
    Script("plan.py", ["--pairs", "20000"], [], read_plan),
    Script("salesforce_adapter.py", ["--leads", "10000"], [], read_salesforce),
    Script(
        "hubspot_adapter.py",
        ["--records", "10000", "--throttled-seconds", "10", "--burst", "2000"],
        [],
        read_hubspot,
    ),
    Script("sync_service.py", ["--people", "500"], [], read_sync_service, redis_arg="--redis"),
    Script(
        "sync_runtime.py",
        ["--people", "1000", "--seconds", "15", "--rate", "5", "--poll", "2"],
        [],
        read_sync_runtime,
    ),
    Script(
        "sync_runtime.py",
        ["--people", "1000", "--seconds", "15", "--rate", "5", "--webhooks"],
        ["--webhooks"],
        read_sync_runtime,
        label="sync_runtime --webhooks",
    ),
    Script("hubspot_webhooks.py", ["--requests", "100"], [], read_web),
    Script(
        "backfill.py",
        ["--people", "4000", "--tier", "starter", "--budget", "40"],
        [],
        read_backfill,
        redis_arg="--redis",
    ),
    Script("backfill_rss.py", ["--people", "20000"], [], read_backfill_rss),
    Script("state_memory.py", ["--people", "20000", "--entries", "20000"], [], read_state_memory),
    Script("metrics_cost.py", ["--people", "200"], [], read_metrics_cost, redis_arg="--redis"),
    Script("admin_token_timing.py", ["--checks", "50000", "--rounds", "10"], [], read_admin_token),
]


@contextmanager
def bench_redis() -> Iterator[str]:
    if os.environ.get("CRMSYNC_BENCH_REDIS_URL"):
        yield os.environ["CRMSYNC_BENCH_REDIS_URL"]
        return
    from worker.demo import local_redis

    with open(os.devnull, "w") as quiet, local_redis(quiet) as url:
        yield url


def run(script: Script, full: bool, redis_url: str) -> tuple[str, float, float, int]:
    """Output, wall seconds, peak RSS (MB) and exit status of one script."""
    args = script.full if full else script.quick
    if script.redis_arg:
        args = [*args, script.redis_arg, redis_url.rsplit("/", 1)[0] + "/1"]
    env = {**os.environ, "CRMSYNC_BENCH_REDIS_URL": redis_url, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(BENCH / script.name), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=ROOT,
        text=True,
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)  # reaped here, so its own peak RSS is known
    proc.returncode = os.waitstatus_to_exitcode(status)
    return out, time.perf_counter() - t0, usage.ru_maxrss / 1024, proc.returncode


def table(rows: list[Row]) -> str:
    head = Row("area", "figure", "value", "limit", "ratio")
    cells = [head.cells(), *[r.cells() for r in rows]]
    widths = [max(len(c[i]) for c in cells) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="the sizes the scripts publish (slow)")
    parser.add_argument("--only", nargs="*", help="script names to run (default: all)")
    parser.add_argument("--raw", action="store_true", help="also print each script's own output")
    args = parser.parse_args(argv)
    rows: list[Row] = []
    missing: list[str] = []
    with bench_redis() as redis_url:
        for script in SCRIPTS:
            if not (BENCH / script.name).exists() or (args.only and script.name not in args.only):
                continue
            print(f"running {script.title} …", file=sys.stderr, flush=True)
            out, wall, rss, status = run(script, args.full, redis_url)
            if args.raw:
                print(out)
            found = script.read(out)
            if status != 0 or not found:
                missing.append(f"{script.title} (exit {status})")
                rows.append(Row(script.title, "figures", "missing", "", ""))
                print(out[-3000:], file=sys.stderr)
            rows.extend(found)
            rows.append(Row(script.title, "process peak RSS / wall", f"{rss:.0f} MB / {wall:.1f} s"))
    print(table(rows))
    load = os.getloadavg()
    print(
        f"\nmachine: {os.cpu_count()} cores, {_mem_gb():.1f} GB, load average {load[0]:.1f} {load[1]:.1f} "
        f"{load[2]:.1f}; Python {sys.version.split()[0]}; sizes: {'full' if args.full else 'quick'}"
    )
    if missing:
        print(f"missing figures: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


def _mem_gb() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError):
        return 0.0


if __name__ == "__main__":
    sys.exit(main())
