"""Org automation that runs when a record is saved: record-triggered flows and Apex triggers.

What a sync client meets on a real org (each a switch here, ``Automation``):

- ``update``: a before-save flow rewrites fields of the record being saved (e.g. sets Status when the
  Lead Stage changes, stamps a date) — the save answers success and the stored record differs from
  what was sent; ``SystemModstamp`` moves as for any save.
- ``validation``: a flow's Custom Error element or a validation rule refuses the save with
  ``FIELD_CUSTOM_VALIDATION_EXCEPTION`` and the admin's message.
- ``trigger_error``: an Apex trigger throws: ``CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY``
  "<Trigger>: execution of BeforeUpdate caused by: <exception>" (message form as in
  SalesforceFoundation/NPSP#2875 and amazon-connect/amazon-connect-salesforce-cti#28).
- ``flow_error``: a flow faults: ``CANNOT_EXECUTE_FLOW_TRIGGER`` "We can't save this record because
  the “<Flow>” process failed. Give your Salesforce admin these details. <detail>" (restforce#624).

An automation runs when ``field`` is set on create or changes on update (and, with ``value``, only
when it becomes that value); ``on`` limits it to creates or updates.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from sandbox.salesforce import errors as err

KINDS = frozenset({"update", "validation", "trigger_error", "flow_error"})
NOW, TODAY = "$NOW", "$TODAY"


@dataclass
class Automation:
    name: str
    object: str
    kind: str
    field: str
    value: Any = None
    on: str = "both"  # create | update | both
    set: dict[str, Any] = dc_field(default_factory=dict)  # kind update: field -> value, $NOW or $TODAY
    message: str = ""
    runs: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(sorted(KINDS))}")
        if self.on not in {"create", "update", "both"}:
            raise ValueError("on must be create, update or both")
        if not all(isinstance(v, str) and v for v in (self.name, self.object, self.field)):
            raise ValueError("name, object and field must be non-empty strings")
        if not isinstance(self.set, dict) or (self.kind == "update" and not self.set):
            raise ValueError("an update automation needs set: {field: value}")
        if not isinstance(self.message, str):
            raise ValueError("message must be a string")

    def fires(self, rec: dict[str, Any], old: dict[str, Any] | None) -> bool:
        if (self.on == "create" and old is not None) or (self.on == "update" and old is None):
            return False
        new = rec.get(self.field)
        changed = new is not None if old is None else new != old.get(self.field)
        return changed and (self.value is None or new == self.value)

    def refusal(self) -> err.SalesforceApiError:
        if self.kind == "validation":
            return err.FieldCustomValidationException(self.message or f"{self.name} refused the save", [])
        if self.kind == "trigger_error":
            return err.CannotInsertUpdateActivateEntity(
                f"{self.name}: execution of BeforeUpdate caused by: {self.message or 'System.Exception'}"
            )
        return err.CannotExecuteFlowTrigger(
            f"We can't save this record because the “{self.name}” process failed. Give your Salesforce "
            f"admin these details. {self.message or 'An unhandled fault has occurred in this flow'}"
        )

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)
