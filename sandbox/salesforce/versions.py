"""API versions: which exist, which are retired, and where SOAP ``login()`` is still offered.

Sources:
- REST API end-of-life policy (developer.salesforce.com api_rest_eol.htm, 2026 copies): versions 7.0-20.0
  retired Summer '22, 21.0-30.0 retired Summer '25; "If you request any resource or use an operation
  from a retired API version, REST API returns the 410:GONE error code". The body's ``errorCode`` is
  ``GONE`` (restforce/restforce#941 "Unhandled Salesforce error: GONE"); its message is UNVERIFIED.
- SOAP API end-of-life policy (api_eol_soap.htm): a retired version answers
  ``500:UNSUPPORTED_API_VERSION``; message as quoted in SalesforceLabs/Milestones-PM#156 ("The API
  version that was specified (20.0) is below the minimum supported (21.0). …").
- A version newer than the org's release: REST ``404 NOT_FOUND`` "The requested resource does not
  exist" (tprouvot/Salesforce-Inspector-reloaded#744); SOAP ``UNSUPPORTED_API_VERSION`` "Invalid Api
  version specified on URL" (superfell/zkSforce#52).
- SOAP ``login()`` is not available from API 65.0 (help.salesforce.com article 005132110 "Platform SOAP
  API login() Retirement"; api_eol_soap.htm) and answers the fault ``INVALID_OPERATION`` "The SOAP Login
  operation is not available in the API version specified (65.0). Refer to the documentation for
  supported versions." (forcedotcom/wsc#363). Retired for every version in Summer '27.
- ``GET /services/data/``: no authentication, a JSON array of ``{label, url, version}`` from 31.0 up
  (api_rest dome_versions.htm example, "Summer '14" = 31.0).
"""

from __future__ import annotations

OLDEST_SUPPORTED = 31.0  # 30.0 and below: retired (410 GONE / UNSUPPORTED_API_VERSION)
# Winter '27, current at this writing; per org (``latest_api_version``) to model an org on another release
LATEST = 68.0
SOAP_LOGIN_LAST = 64.0  # login() is not offered from 65.0


def release_label(version: float) -> str:
    """``Summer '14`` for 31.0, ``Winter '15`` for 32.0, … three releases a year (dome_versions.htm)."""
    k = int(version) - 32
    if k < 0:
        return "Summer '14"
    season = ("Winter", "Spring", "Summer")[k % 3]
    return f"{season} '{15 + k // 3:02d}"


def listing(latest: float) -> list[dict[str, str]]:
    """The body of ``GET /services/data/``: every available version, oldest first."""
    return [
        {"label": release_label(v), "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
        for v in range(int(OLDEST_SUPPORTED), int(latest) + 1)
    ]


def parse(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def is_retired(version: float) -> bool:
    return version < OLDEST_SUPPORTED


def is_unreleased(version: float, latest: float) -> bool:
    return version > latest or version != int(version)
