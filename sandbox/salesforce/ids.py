"""Salesforce record ids: 15 case-sensitive characters plus a 3-character case-safe suffix.

The first three characters are the object's key prefix (00Q Lead, 003 Contact, 001 Account, 006 Opportunity,
00T Task, 00U Event, 005 User, 00K OpportunityContactRole, 00D Organization, 01g query locator, 750 Bulk
job). The suffix algorithm (one character per 5-character chunk, from a bitmap of which characters are
upper case) is the documented case-insensitive id conversion (Salesforce Knowledge "What are Salesforce
IDs composed of?", and the casesafe id formula ``CASESAFEID``).
"""

from __future__ import annotations

import re

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?$")

KEY_PREFIXES: dict[str, str] = {
    "Account": "001",
    "Contact": "003",
    "Opportunity": "006",
    "Lead": "00Q",
    "Task": "00T",
    "Event": "00U",
    "User": "005",
    "Group": "00G",  # queues are Groups of Type Queue
    "RecordType": "012",
    "Organization": "00D",
    "OpportunityContactRole": "00K",
}
PREFIX_TO_OBJECT = {prefix: name for name, prefix in KEY_PREFIXES.items()}
ORG_PREFIX = "00D"
# The master record type every object has (lwc getPicklistValues docs: "If there isn't a default record
# type, this value is the master record type, which is 012000000000000AAA").
MASTER_RECORD_TYPE_ID = "012000000000000AAA"
LOCATOR_PREFIX = "01g"
BULK_JOB_PREFIX = "750"
POD = "5g"  # the "instance" characters; real ids carry the pod that created them


def case_safe_suffix(id15: str) -> str:
    """The 3-character suffix that makes a 15-character id case-insensitive-unique."""
    out = []
    for chunk_start in (0, 5, 10):
        bits = 0
        for offset, char in enumerate(id15[chunk_start : chunk_start + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << offset
        out.append(_SUFFIX[bits])
    return "".join(out)


def base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, rem = divmod(number, 62)
        digits.append(_BASE62[rem])
    if number:
        raise OverflowError("id counter overflow")
    return "".join(reversed(digits))


def make_id(prefix: str, counter: int) -> str:
    """An 18-character id; ids of one prefix sort (as strings) in counter order."""
    id15 = f"{prefix}{POD}{base62(counter, 10)}"
    return id15 + case_safe_suffix(id15)


def to_18(value: str) -> str:
    """Normalise a 15- or 18-character id to 18 characters (the API accepts both)."""
    return value if len(value) == 18 else value + case_safe_suffix(value)


def is_valid_id(value: str) -> bool:
    if not ID_RE.match(value):
        return False
    return len(value) == 15 or case_safe_suffix(value[:15]) == value[15:]
