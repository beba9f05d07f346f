"""``crmsync mappings diff OLD NEW``: what deploying NEW instead of OLD would do to the people already
synced, before it ships — nothing is written.

For every stored base (the values each side held after the last sync), the Salesforce and HubSpot
values of the stage and status fields are read through NEW (``sf_to_canon`` / ``hs_to_canon``) and
compared with what OLD made of them (the base's canonical values): a person whose stage or status
would come out different is counted under ``old → new`` with a sample, and a value NEW does not know is
counted per side and value (the sync would skip it, see ``Skip.unknown_value``). Per-rule effects
need the plan with the CRMs' facts and are not estimated here (``--live`` is not built yet).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from worker.mapping import CompiledMap
from worker.state.ops import based_people
from worker.state.store import State

SAMPLES = 3


@dataclass
class MapDiff:
    people: int = 0
    moves: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    unknown: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    samples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def note(self, kind: str, what: str, person: str) -> None:
        bucket = self.moves if kind in ("stage", "status") else self.unknown
        bucket[kind][what] += 1
        sample = self.samples[f"{kind}:{what}"]
        if len(sample) < SAMPLES:
            sample.append(person)

    def to_json(self) -> dict[str, Any]:
        def listing(bucket: dict[str, Counter[str]], kind: str) -> list[dict[str, Any]]:
            return [
                {"change": what, "people": n, "sample": self.samples[f"{kind}:{what}"]}
                for what, n in bucket.get(kind, Counter()).most_common()
            ]

        return {
            "people": self.people,
            "stage": listing(self.moves, "stage"),
            "status": listing(self.moves, "status"),
            "unknown_values": {side: listing(self.unknown, side) for side in ("salesforce", "hubspot")},
        }


def diff(state: State, new: CompiledMap) -> MapDiff:
    """The bases hold OLD's canonical values (OLD being the map they were synced with)."""
    out = MapDiff()
    fields = {"stage": new.stage_field, "status": new.status_field}  # OLD's reading is the base's
    for people in based_people(state.redis):
        for person, base in state.bases.get_many(people).items():
            out.people += 1
            for fid, nf in fields.items():
                was = base.values.get(fid)
                sides: dict[str, tuple[Any, Mapping[str, str]]] = {
                    "salesforce": (base.salesforce_values.get(fid), nf.sf_to_canon or {}),
                    "hubspot": (base.hubspot_values.get(fid), nf.hs_to_canon or {}),
                }
                now: str | None = None
                for side, (value, to_canon) in sides.items():
                    if value in (None, ""):
                        continue
                    canon = to_canon.get(str(value))
                    if canon is None:
                        out.note(side, f"{fid} {value!r}", person)
                    elif now is None:
                        now = canon
                if now is not None and now != was:
                    out.note(fid, f"{was} → {now}", person)
    return out
