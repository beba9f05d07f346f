"""Benchmark the webhook receiver: latency of signed batches over real HTTP into a real Redis.

Run: ``.venv/bin/python bench/hubspot_webhooks.py [--requests 500] [--events 100]``
Prints p50/p95/p99 answer times (target: 200 within ~100 ms) and events recorded per second.
Needs a Redis (``CRMSYNC_BENCH_REDIS_URL``, default db 14; the bench's keys are removed afterwards).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
import uuid

import httpx
import redis
import uvicorn
from pydantic import SecretStr

from sandbox.hubspot.webhooks import sign_v3
from worker.crm.hubspot.settings import HubSpotSettings
from worker.state.dirty import DirtySet
from worker.web.hubspot import create_app

SECRET = "bench-secret"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--events", type=int, default=100)
    args = parser.parse_args()
    client = redis.Redis.from_url(os.environ.get("CRMSYNC_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"))
    crm = f"bench-{uuid.uuid4().hex[:8]}"
    dirty = DirtySet(client, crm=crm)
    app = create_app(HubSpotSettings(app_secret=SecretStr(SECRET), app_id=1), dirty)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    url = f"http://{host}:{port}/webhooks/hubspot"
    times: list[float] = []
    event_id = 0
    with httpx.Client() as http:
        started = time.perf_counter()
        for _ in range(args.requests):
            events = []
            for _ in range(args.events):
                event_id += 1
                events.append(
                    {
                        "eventId": event_id,
                        "subscriptionId": 1,
                        "portalId": 1,
                        "appId": 1,
                        "occurredAt": int(time.time() * 1000),
                        "subscriptionType": "contact.propertyChange",
                        "attemptNumber": 0,
                        "objectId": event_id % 50_000 + 1,  # HubSpot ids are positive
                        "changeSource": "CRM_UI",
                        "sourceId": "userId:1",
                    }
                )
            body = json.dumps(events).encode()
            ts = str(int(time.time() * 1000))
            headers = {
                "X-HubSpot-Signature-v3": sign_v3(SECRET, "POST", url, body, ts),
                "X-HubSpot-Request-Timestamp": ts,
            }
            t0 = time.perf_counter()
            r = http.post(url, content=body, headers=headers)
            times.append((time.perf_counter() - t0) * 1000)
            if r.status_code != 200:
                sys.exit(f"unexpected {r.status_code}: {r.text}")
        total = time.perf_counter() - started
    server.should_exit = True
    thread.join(timeout=10)
    q = statistics.quantiles(times, n=100)
    print(
        f"{args.requests} signed batches of {args.events} events: p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms, "
        f"p99 {q[98]:.1f} ms, max {max(times):.1f} ms; {event_id / total:,.0f} events/s recorded"
    )
    for key in client.scan_iter(f"crmsync:*:{crm}:*"):
        client.delete(key)
    client.close()


if __name__ == "__main__":
    main()
