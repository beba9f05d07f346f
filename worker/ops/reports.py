"""Reports read from the audit stream. ``funnel``: per stage of the active map, how many people
entered it, how many moved on (and to the next stage), conversion rates and the median time in the
stage — the reporting the two fields exist for.

A person's stage history is every audit entry that wrote the stage field on either side (the CRM
value translated to the map's stage), in time order; the ``before`` of a person's first entry is where
they stood. Each stage counts a person once however often they re-entered it (the first entry
counts, and time in stage adds up every stay that ended)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from worker.mapping import CompiledMap
from worker.state.audit import AuditEntry
from worker.state.store import State


@dataclass(frozen=True)
class StageRow:
    stage: str
    label: str
    entered: int
    moved_on: int
    to_next: int
    median_days_in_stage: float | None

    @property
    def conversion(self) -> float | None:
        return self.moved_on / self.entered if self.entered else None

    @property
    def next_conversion(self) -> float | None:
        return self.to_next / self.entered if self.entered else None

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "label": self.label,
            "entered": self.entered,
            "moved_on": self.moved_on,
            "to_next": self.to_next,
            "conversion": None if self.conversion is None else round(self.conversion, 4),
            "next_conversion": None if self.next_conversion is None else round(self.next_conversion, 4),
            "median_days_in_stage": self.median_days_in_stage,
        }


def stage_paths(entries: Iterable[AuditEntry], cmap: CompiledMap) -> dict[str, list[tuple[int, str]]]:
    """person → [(epoch ms, stage id)], consecutive repeats dropped (one move audited on both sides)."""
    stage = cmap.stage_field
    names = {"salesforce": stage.salesforce, "hubspot": stage.hubspot}
    to_canon: dict[str, Mapping[str, str]] = {
        "salesforce": stage.sf_to_canon or {},
        "hubspot": stage.hs_to_canon or {},
    }
    paths: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for e in sorted(entries, key=lambda e: (e.at_ms, e.entry_id)):
        if e.field != names.get(e.side) or e.after is None:
            continue
        after = to_canon[e.side].get(e.after)
        if after is None:
            continue
        path = paths[e.person]
        if not path and e.before is not None and (before := to_canon[e.side].get(e.before)) is not None:
            path.append((0, before))  # where the person stood before the first audited move
        if not path or path[-1][1] != after:
            path.append((e.at_ms, after))
    return dict(paths)


def funnel(
    entries: Iterable[AuditEntry], cmap: CompiledMap, *, since_ms: int | None = None
) -> list[StageRow]:
    paths = stage_paths(entries, cmap)
    order = sorted(cmap.stages.values(), key=lambda s: s.rank)
    nxt = {s.id: order[i + 1].id for i, s in enumerate(order[:-1])}
    entered: dict[str, set[str]] = defaultdict(set)
    moved: dict[str, set[str]] = defaultdict(set)
    to_next: dict[str, set[str]] = defaultdict(set)
    stays: dict[str, list[float]] = defaultdict(list)
    for person, path in paths.items():
        for i, (at, stage) in enumerate(path):
            if at == 0 or (since_ms is not None and at < since_ms):
                continue  # only entries seen in the window count as entering
            entered[stage].add(person)
            if i + 1 < len(path):
                moved[stage].add(person)
                stays[stage].append((path[i + 1][0] - at) / 86_400_000)
                if any(s == nxt.get(stage) for _, s in path[i + 1 :]):
                    to_next[stage].add(person)
    return [
        StageRow(
            s.id,
            s.label,
            len(entered[s.id]),
            len(moved[s.id]),
            len(to_next[s.id]),
            round(statistics.median(stays[s.id]), 2) if stays[s.id] else None,
        )
        for s in order
    ]


@dataclass(frozen=True)
class MapException:
    kind: str  # dead_letter | unknown_value | implied_stage_not_set | required_field_missing
    person: str
    salesforce: str | None
    hubspot: str | None
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "person": self.person,
            "salesforce": self.salesforce,
            "hubspot": self.hubspot,
            "detail": self.detail,
        }


def exceptions(state: State, cmap: CompiledMap) -> list[MapException]:
    """People whose stored state contradicts the map now, from Redis only (the bases as last synced,
    the dead letters): a value the map does not know, a status whose implied stage is not the stage, a
    field a status requires left blank, a dead letter. Held backward moves are not stored, so they are
    not listed here (``crmsync explain`` shows one for a person)."""
    from worker.state.ops import based_people

    out: list[MapException] = []
    fields = {"stage": cmap.stage_field, "status": cmap.status_field}
    for people in based_people(state.redis):
        bases = state.bases.get_many(people)
        linked = state.links.people(list(bases))
        for pid, base in bases.items():
            who = linked.get(pid)
            sf, hs = (who.salesforce, who.hubspot) if who else (None, None)
            for fid, f in fields.items():
                sides: tuple[tuple[str, Mapping[str, Any], Mapping[str, str]], ...] = (
                    ("salesforce", base.salesforce_values, f.sf_to_canon or {}),
                    ("hubspot", base.hubspot_values, f.hs_to_canon or {}),
                )
                for side, values, known in sides:
                    value = values.get(fid)
                    if value not in (None, "") and str(value) not in known:
                        out.append(MapException("unknown_value", pid, sf, hs, f"{side} {fid} {value!r}"))
            status = cmap.statuses.get(str(base.values.get("status") or ""))
            if status is not None:
                stage = base.values.get("stage")
                if status.implies_stage and stage != status.implies_stage:
                    out.append(
                        MapException(
                            "implied_stage_not_set",
                            pid,
                            sf,
                            hs,
                            f"status {status.id} implies stage {status.implies_stage}, stage is {stage}",
                        )
                    )
                for field_id, _default in status.requires:
                    if base.values.get(field_id) in (None, ""):
                        out.append(
                            MapException(
                                "required_field_missing",
                                pid,
                                sf,
                                hs,
                                f"status {status.id} requires {field_id}",
                            )
                        )
    for letter in state.dead.newest(limit=max(1, state.dead.count())):
        keys = dict.fromkeys(letter.record_keys)
        sf = next((k for k in keys if k.startswith("sf:")), None)
        hs = next((k for k in keys if k.startswith("hs:")), None)
        code = next((w.code for w in letter.writes if w.code), None) or letter.reason
        out.append(MapException("dead_letter", letter.person, sf, hs, f"{code}: {letter.detail[:200]}"))
    return out
