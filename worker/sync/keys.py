"""Record keys: the one way to name a CRM record outside its adapter.

``sf:Lead:00Q5e00000AbCdE``, ``sf:Contact:0035e00000XyZ12`` and ``hs:contacts:1234`` — the CRM, the
object type, the id. Signals (webhooks, polls, resyncs) name records this way, the dirty set stores
the parts (``crm``, ``object_type``, ``id``), links map keys to people, and a person id is the key a
person was first linked under. Parsing is strict: anything else is an ``InputError`` naming the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from worker.errors import InputError

Crm = Literal["sf", "hs"]
_SF_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Z0-5]{3})?$")
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_HS_ID = re.compile(r"^[1-9][0-9]{0,18}$")
SALESFORCE_OBJECTS = ("Lead", "Contact")
CRM_NAMES = {"sf": "salesforce", "hs": "hubspot"}


def case_safe_suffix(id15: str) -> str:
    """The 3-character suffix of Salesforce's case-safe 18-character id (one character per 5-character
    chunk, from the bitmap of its upper-case letters; the ``CASESAFEID`` formula)."""
    out = []
    for start in (0, 5, 10):
        bits = sum(1 << i for i, ch in enumerate(id15[start : start + 5]) if "A" <= ch <= "Z")
        out.append(_SUFFIX[bits])
    return "".join(out)


@dataclass(frozen=True, order=True)
class RecordKey:
    crm: Crm
    object_type: str
    id: str

    def __post_init__(self) -> None:
        if self.crm == "sf":
            if self.object_type not in SALESFORCE_OBJECTS or not _SF_ID.match(self.id):
                raise InputError(f"not a Salesforce Lead/Contact key: sf:{self.object_type}:{self.id}")
            if len(self.id) == 15:  # one person, one key: the 18-character case-safe form
                object.__setattr__(self, "id", self.id + case_safe_suffix(self.id))
        elif self.crm == "hs":
            if self.object_type != "contacts" or not _HS_ID.match(self.id):
                raise InputError(f"not a HubSpot contact key: hs:{self.object_type}:{self.id}")
        else:
            raise InputError(f"unknown CRM {self.crm!r} in a record key (sf or hs)")

    def __str__(self) -> str:
        return f"{self.crm}:{self.object_type}:{self.id}"

    @property
    def side(self) -> Literal["salesforce", "hubspot"]:
        return "salesforce" if self.crm == "sf" else "hubspot"

    @classmethod
    def parse(cls, text: str) -> RecordKey:
        parts = str(text).split(":")
        if len(parts) != 3:
            raise InputError(f"not a record key (crm:object:id): {str(text)[:100]!r}")
        crm, object_type, record_id = parts
        if crm not in ("sf", "hs"):
            raise InputError(f"unknown CRM {crm[:20]!r} in record key (sf or hs)")
        return cls(crm, object_type, record_id)  # type: ignore[arg-type]

    @classmethod
    def salesforce(cls, object_type: str, record_id: str) -> RecordKey:
        return cls("sf", object_type, record_id)

    @classmethod
    def hubspot(cls, record_id: str) -> RecordKey:
        return cls("hs", "contacts", str(record_id))

    @classmethod
    def from_dirty(cls, crm: str, object_type: str, record_id: str) -> RecordKey:
        """From the dirty set's parts (``crm`` is ``salesforce`` or ``hubspot``)."""
        short = {"salesforce": "sf", "hubspot": "hs"}.get(crm)
        if short is None:
            raise InputError(f"unknown CRM {crm!r}")
        return cls(short, object_type, record_id)  # type: ignore[arg-type]

    def dirty_parts(self) -> tuple[str, str, str]:
        return CRM_NAMES[self.crm], self.object_type, self.id
