"""The ``/admin`` page: server-rendered HTML, no JavaScript and no build step.

Sections: status (per CRM: state, cursor lag, last poll, budget; queue depths), dead letters grouped by
code with a "resync" button per sample, backfills with progress bars and a "cancel" button (the page
refreshes itself every few seconds while one runs), and the funnel as a bar chart (inline SVG).
Login: the admin token in a form sets an HttpOnly, SameSite=Strict cookie holding an HMAC of the token
(never the token); ``Authorization: Bearer`` works too. Every value is HTML-escaped. A narrow screen
gets one column and tables that scroll sideways.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from html import escape
from typing import Any

COOKIE = "crmsync_admin"
REFRESH_S = 3

CSS = """
*{box-sizing:border-box}body{font:15px/1.4 system-ui,sans-serif;margin:0;color:#1b1f24;background:#f5f6f8}
header{background:#1b1f24;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:.5rem 1rem;
align-items:baseline}header h1{font-size:1.1rem;margin:0}main{display:grid;gap:1rem;padding:1rem;
grid-template-columns:repeat(auto-fit,minmax(min(100%,26rem),1fr))}section{background:#fff;
border-radius:6px;padding:.8rem 1rem;box-shadow:0 1px 2px #0002;min-width:0}h2{font-size:1rem;
margin:.1rem 0 .6rem}.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%}
td,th{text-align:left;padding:.25rem .4rem;border-bottom:1px solid #e3e5e8;vertical-align:top;
overflow-wrap:anywhere}
.bad{color:#b3261e;font-weight:600}.ok{color:#1e7b34;font-weight:600}
progress{width:100%;height:1rem}button{font:inherit;padding:.25rem .7rem;border-radius:4px;
border:1px solid #888;background:#fff;cursor:pointer}form.inline{display:inline}.note{background:#fff7d6;
padding:.5rem 1rem;margin:1rem 1rem 0;border-radius:6px}input{font:inherit;padding:.3rem;width:100%;
max-width:24rem}
"""


def session_value(token: str) -> str:
    """What the cookie holds: an HMAC of the token, so a stolen cookie never reveals it."""
    return hmac.new(token.encode(), b"crmsync-admin-session", hashlib.sha256).hexdigest()


def _page(title: str, body: str, *, refresh: bool = False) -> str:
    meta = f'<meta http-equiv="refresh" content="{REFRESH_S}">' if refresh else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"{meta}<title>{escape(title)}</title><style>{CSS}</style></head><body>{body}</body></html>"
    )


def login_page(error: str = "") -> str:
    problem = f'<p class="bad" id="login-error">{escape(error)}</p>' if error else ""
    return _page(
        "crm-sync admin: sign in",
        '<header><h1>crm-sync admin</h1></header><main><section id="login"><h2>Sign in</h2>'
        f'{problem}<form method="post" action="/admin/login"><label for="token">Admin token</label><br>'
        '<input id="token" name="token" type="password" autocomplete="current-password" required> '
        '<button type="submit">Sign in</button></form></section></main>',
    )


def _ago(ms: int | None, now_ms: int) -> str:
    if not ms:
        return "never"
    s = max(0, (now_ms - ms) / 1000)
    return f"{s:.0f}s ago" if s < 120 else f"{s / 60:.0f} min ago" if s < 7200 else f"{s / 3600:.1f} h ago"


def _status(doc: dict[str, Any]) -> str:
    now = int(doc["generated_at_ms"])
    rows = []
    for crm, c in doc["crms"].items():
        state = (
            "off"
            if not c["enabled"]
            else f'<span class="bad">paused: {escape(str(c["paused"]))}</span>'
            if c["paused"]
            else '<span class="ok">running</span>'
        )
        lags = ", ".join(
            f"{escape(n)} {cur['lag_s']:.0f}s" for n, cur in c["cursors"].items() if cur["lag_s"] is not None
        )
        poll = c["last_poll"]
        b = c.get("budget") or {}
        if "share_left" in b:
            budget = f"{b['daily_used']}/{b['daily_total']} today, {b['share_left']} left"
        elif "daily_left" in b:
            budget = f"{b['ten_second_used']}/{b['ten_second_budget']} per 10 s, {b['daily_left']} left today"
        else:
            budget = "no reading yet"
        rows.append(
            f"<tr><th>{escape(crm)}</th><td>{state}</td><td>{lags or 'no cursor'}</td>"
            f"<td>{_ago(poll['at'] if poll else None, now)}</td><td>{escape(budget)}</td></tr>"
        )
    q = doc["queues"]
    depths = ", ".join(f"{escape(k)} {v}" for k, v in q["dirty"].items())
    broker = ", ".join(f"{escape(k)} {v}" for k, v in (q["broker"] or {}).items()) or "n/a"
    return (
        '<section id="status"><h2>Status</h2><div class="scroll"><table>'
        "<tr><th>CRM</th><th>state</th><th>cursor lag</th><th>last poll</th><th>API budget</th></tr>"
        + "".join(rows)
        + f"</table></div><p>Waiting: {depths}. Broker: {broker}. Audit entries: {doc['audit_entries']}.</p>"
        "</section>"
    )


def _dead_letters(doc: dict[str, Any]) -> str:
    groups = doc["dead_letters"]["by_code"]
    if not groups:
        return '<section id="dead-letters"><h2>Dead letters</h2><p class="ok">None.</p></section>'
    rows = []
    for g in groups:
        s = g["sample"]
        rows.append(
            f"<tr><td><b>{escape(str(g['code']))}</b></td><td>{g['count']}</td>"
            f"<td>{escape(s['person'])}<br><small>{escape(s['message'])}</small></td>"
            '<td><form class="inline" method="post" action="/admin/resync">'
            f'<input type="hidden" name="person" value="{escape(s["person"], quote=True)}">'
            '<button type="submit">Resync</button></form></td></tr>'
        )
    return (
        f'<section id="dead-letters"><h2>Dead letters ({doc["dead_letters"]["total"]})</h2>'
        '<div class="scroll"><table><tr><th>code</th><th>people</th><th>sample</th><th></th></tr>'
        + "".join(rows)
        + "</table></div></section>"
    )


def _backfills(backfills: list[dict[str, Any]]) -> str:
    if not backfills:
        return '<section id="backfills"><h2>Backfills</h2><p>None yet.</p></section>'
    rows = []
    for b in backfills:
        running = b["state"] in ("enumerating", "running")
        action = f"/admin/backfills/{escape(b['id'], quote=True)}/cancel"
        cancel = (
            f'<form class="inline" method="post" action="{action}">'
            '<button type="submit">Cancel</button></form>'
            if running
            else ""
        )
        eta = f", ETA {b['eta_s']:.0f}s" if b.get("eta_s") else ""
        rows.append(
            f'<tr class="backfill" data-state="{escape(b["state"], quote=True)}"><td>{escape(b["id"])}'
            f"<br><small>{escape(b['state'])}{' (dry run)' if b['dry_run'] else ''}</small></td>"
            f'<td><progress max="{max(b["total"], 1)}" value="{b["done"]}"></progress>'
            f"<br><small>{b['done']}/{b['total']}, {b['rate_per_s']}/s{eta}, {b['writes']} writes, "
            f"{b['errors']} errors</small></td><td>{cancel}</td></tr>"
        )
    return (
        '<section id="backfills"><h2>Backfills</h2><div class="scroll"><table>'
        "<tr><th>backfill</th><th>progress</th><th></th></tr>" + "".join(rows) + "</table></div></section>"
    )


def _funnel(rows: list[dict[str, Any]]) -> str:
    shown = [r for r in rows if r["entered"]]
    if not shown:
        return '<section id="funnel"><h2>Funnel</h2><p>No stage moves in the audit stream yet.</p></section>'
    top = max(r["entered"] for r in shown)
    bar_h, gap, label_w, width = 22, 6, 150, 420
    parts = []
    for i, r in enumerate(shown):
        y = i * (bar_h + gap)
        w = max(2, int((width - label_w - 60) * r["entered"] / top))
        conv = f"{r['next_conversion']:.0%} to next" if r["next_conversion"] is not None else ""
        parts.append(
            f'<text x="0" y="{y + 15}" font-size="13">{escape(r["label"])}</text>'
            f'<rect class="bar" x="{label_w}" y="{y}" width="{w}" height="{bar_h}" fill="#3b6fd4">'
            f"<title>{escape(r['label'])}: {r['entered']} entered, {conv}</title></rect>"
            f'<text x="{label_w + w + 4}" y="{y + 15}" font-size="12">{r["entered"]}</text>'
        )
    height = len(shown) * (bar_h + gap)
    return (
        '<section id="funnel"><h2>Funnel (people who entered each stage)</h2>'
        f'<svg role="img" aria-label="funnel" viewBox="0 0 {width} {height}" width="100%">'
        + "".join(parts)
        + "</svg></section>"
    )


def admin_page(
    status: dict[str, Any], backfills: list[dict[str, Any]], funnel: list[dict[str, Any]], note: str = ""
) -> str:
    generated = datetime.fromtimestamp(status["generated_at_ms"] / 1000, UTC).strftime(
        "%Y-%m-%d %H:%M:%S UTC"
    )
    running = any(b["state"] in ("enumerating", "running") for b in backfills)
    banner = f'<p class="note" id="note">{escape(note)}</p>' if note else ""
    body = (
        f"<header><h1>crm-sync admin</h1><span>{escape(generated)}</span></header>{banner}<main>"
        + _status(status)
        + _dead_letters(status)
        + _backfills(backfills)
        + _funnel(funnel)
        + "</main>"
    )
    return _page("crm-sync admin", body, refresh=running)
