"""SOAP partner-API calls simple-salesforce has no helper for: ``convertLead``.

Request and result shapes: api sforce_api_calls_convertlead.htm (LeadConvert: leadId, convertedStatus,
accountId, contactId, opportunityName, doNotCreateOpportunity; LeadConvertResult: accountId, contactId,
leadId, opportunityId, success, errors[statusCode, message]). Values are XML-escaped. A fault
(HTTP 500) carries ``faultcode`` like ``sf:INVALID_SESSION_ID``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from html import escape

from worker.crm.salesforce.usage import Usage

PARTNER_NS = "urn:partner.soap.sforce.com"
MAX_CONVERTS_PER_CALL = 100  # UNVERIFIED for SOAP (Apex Database.convertLead takes 100); kept conservative


@dataclass(frozen=True)
class LeadConversion:
    lead_id: str
    converted_status: str
    account_id: str | None = None
    contact_id: str | None = None
    opportunity_name: str | None = None
    do_not_create_opportunity: bool = False


@dataclass(frozen=True)
class ConversionResult:
    lead_id: str
    success: bool
    account_id: str | None = None
    contact_id: str | None = None
    opportunity_id: str | None = None
    error_code: str | None = None
    message: str = ""


def convert_envelope(session_id: str, conversions: list[LeadConversion]) -> str:
    items = []
    for c in conversions:
        parts = [f"<urn:leadId>{escape(c.lead_id)}</urn:leadId>"]
        parts.append(f"<urn:convertedStatus>{escape(c.converted_status)}</urn:convertedStatus>")
        if c.account_id:
            parts.append(f"<urn:accountId>{escape(c.account_id)}</urn:accountId>")
        if c.contact_id:
            parts.append(f"<urn:contactId>{escape(c.contact_id)}</urn:contactId>")
        if c.opportunity_name:
            parts.append(f"<urn:opportunityName>{escape(c.opportunity_name)}</urn:opportunityName>")
        parts.append(
            f"<urn:doNotCreateOpportunity>{str(c.do_not_create_opportunity).lower()}</urn:doNotCreateOpportunity>"
        )
        items.append("<urn:leadConverts>" + "".join(parts) + "</urn:leadConverts>")
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        f'xmlns:urn="{PARTNER_NS}"><soapenv:Header><urn:SessionHeader>'
        f"<urn:sessionId>{escape(session_id)}</urn:sessionId></urn:SessionHeader></soapenv:Header>"
        f"<soapenv:Body><urn:convertLead>{''.join(items)}</urn:convertLead></soapenv:Body></soapenv:Envelope>"
    )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(el: ET.Element, name: str) -> str | None:
    for c in el:
        if _local(c.tag) == name:
            return (c.text or "").strip() or None
    return None


def parse_fault(body: bytes) -> tuple[str, str]:
    """``(code, message)`` of a SOAP fault (``sf:`` prefix removed)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return "UNKNOWN_EXCEPTION", body[:200].decode(errors="replace")
    code = message = ""
    for el in root.iter():
        if _local(el.tag) == "faultcode":
            code = (el.text or "").split(":")[-1]
        elif _local(el.tag) == "faultstring":
            message = el.text or ""
    return code or "UNKNOWN_EXCEPTION", message


def parse_limit_info_header(body: bytes) -> Usage | None:
    """The ``API REQUESTS`` entry of a SOAP response's ``LimitInfoHeader`` (api
    sforce_api_header_limitinfo.htm: ``limitInfo`` with ``current``, ``limit``, ``type``; sent on
    every call except login)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    for el in root.iter():
        if _local(el.tag) == "limitInfo" and (_child(el, "type") or "").upper() == "API REQUESTS":
            current, limit = _child(el, "current"), _child(el, "limit")
            if current and limit and current.isdigit() and limit.isdigit():
                return Usage(int(current), int(limit))
    return None


def parse_convert_results(body: bytes, conversions: list[LeadConversion]) -> list[ConversionResult]:
    root = ET.fromstring(body)
    results = [el for el in root.iter() if _local(el.tag) == "result"]
    out = []
    for conv, el in zip(conversions, results, strict=True):
        success = _child(el, "success") == "true"
        errors = next((c for c in el if _local(c.tag) == "errors"), None)
        out.append(
            ConversionResult(
                lead_id=_child(el, "leadId") or conv.lead_id,
                success=success,
                account_id=_child(el, "accountId"),
                contact_id=_child(el, "contactId"),
                opportunity_id=_child(el, "opportunityId"),
                error_code=_child(errors, "statusCode") if errors is not None else None,
                message=(_child(errors, "message") or "") if errors is not None else "",
            )
        )
    return out
