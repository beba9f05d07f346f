"""Bulk API 2.0 ingest jobs (api_asynch bulk_api_2_0): create, upload CSV, close, poll, results.

- ``POST /jobs/ingest`` ``{object, operation (insert|update|upsert|delete), externalIdFieldName,
  contentType CSV, lineEnding, columnDelimiter}`` → job info, state ``Open`` (create_job.htm).
- ``PUT /jobs/ingest/{id}/batches`` CSV → 201 while Open (upload_job_data.htm; 100 MB per upload).
- ``PATCH /jobs/ingest/{id}`` ``{"state": "UploadComplete"}`` closes it; ``Aborted`` aborts it.
- ``GET /jobs/ingest/{id}`` job info: ``UploadComplete`` → ``InProgress`` (for ``bulk_job_polls`` polls)
  → ``JobComplete``, with ``numberRecordsProcessed``/``numberRecordsFailed``.
- ``GET …/successfulResults`` (``sf__Id``, ``sf__Created``, the row), ``…/failedResults`` (``sf__Id``,
  ``sf__Error``, the row; get_job_failed_results.htm: "The order of records in the response is not
  guaranteed to match the ordering of records in the original"), ``…/unprocessedrecords`` (the rows
  an aborted job never reached). ``sf__Error`` is ``CODE:message:fields --`` (UNVERIFIED format).
- Values: an empty cell leaves the field as it is, ``#N/A`` sets it to null (Bulk 2.0 CSV docs).
Rows are processed when the job is closed, each as its own save (no assignment rules, duplicate rules
as configured); results come back in reverse order here to keep clients honest about the docs' note.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from sandbox.salesforce import errors as err
from sandbox.salesforce.models import Org

OPERATIONS = frozenset({"insert", "update", "upsert", "delete"})
MAX_UPLOAD_BYTES = 100 * 1024 * 1024
NULL = "#N/A"


def row_values(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row as save values: empty cells left out, ``#N/A`` as null, booleans as booleans."""
    out: dict[str, Any] = {}
    for key, text in row.items():
        if text == "":
            continue
        out[key] = None if text == NULL else True if text == "true" else False if text == "false" else text
    return out


def process(org: Org, job: dict[str, Any], user_id: str) -> None:
    """Run every uploaded row once (at close); fills the job's results."""
    info = job["info"]
    obj, operation, key = info["object"], info["operation"], info.get("externalIdFieldName")
    rows = list(csv.DictReader(io.StringIO(job["data"])))
    job["columns"] = list(rows[0].keys()) if rows else []
    success: list[tuple[str, bool, dict[str, str]]] = []
    failed: list[tuple[str, str, dict[str, str]]] = []
    for row in rows:
        values = row_values(row)
        try:
            if operation == "insert":
                success.append((org.create(obj, values, user_id), True, row))
            elif operation == "update":
                rid = str(values.pop("Id", "") or values.pop("id", "") or "")
                org.update(obj, rid, values, user_id)
                success.append((rid, False, row))
            elif operation == "delete":
                rid = str(values.get("Id", ""))
                org.delete(obj, rid, user_id)
                success.append((rid, False, row))
            else:
                ext = str(values.pop(key, "") or "")
                if not ext:
                    raise err.SalesforceApiError(f"{key} not specified", [str(key)])
                if key == "Id":  # upsert on Id updates the record the id names (never creates)
                    org.update(obj, ext, values, user_id)
                    success.append((ext, False, row))
                else:
                    rid, created = org.upsert(obj, str(key), ext, values, user_id)
                    success.append((rid, created, row))
        except err.MultipleChoices:
            failed.append(("", f"DUPLICATE_EXTERNAL_ID:more than one record found for {key}:{key} --", row))
        except err.SalesforceApiError as exc:
            fields = ",".join(exc.fields or [])
            rid = str(row.get("Id") or "")
            failed.append((rid, f"{exc.error_code}:{exc.message}:{fields} --", row))
    job["success"], job["failed"], job["unprocessed"] = success[::-1], failed[::-1], []
    info["numberRecordsProcessed"] = len(rows)
    info["numberRecordsFailed"] = len(failed)


def results_csv(job: dict[str, Any], kind: str) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    columns = job.get("columns") or []
    if kind == "successfulResults":
        writer.writerow(["sf__Id", "sf__Created", *columns])
        for rid, created, row in job["success"]:
            writer.writerow([rid, "true" if created else "false", *(row.get(c, "") for c in columns)])
    elif kind == "failedResults":
        writer.writerow(["sf__Id", "sf__Error", *columns])
        for rid, error, row in job["failed"]:
            writer.writerow([rid, error, *(row.get(c, "") for c in columns)])
    else:  # unprocessedrecords: every uploaded row of an aborted job, none of a completed one
        rows = list(csv.DictReader(io.StringIO(job["data"]))) if job["unprocessed"] is None else []
        head = list(rows[0].keys()) if rows else columns
        writer.writerow(head)
        for row in rows:
            writer.writerow([row.get(c, "") for c in head])
    return buf.getvalue()
