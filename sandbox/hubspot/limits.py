"""Pagination sizes and limits, declared once as data and read by models and responses.

Sources (see shared/reference/hubspot-api.md):
- batch inputs 100 [C, widely documented]; property-history batch 50 [B, pipedream PR #8462];
- list page max 100, default 10 [A, SPEC + PY ``PAGE_MAX_SIZE``];
- search page max 200 [A, SPEC], 10,000 results per query [B, activepieces PR #10160 quoting the docs],
  5 filterGroups / 10 filters per group / 25 filters total [A, changelog Aug 2024];
- associations v4 page max 500 [A, SPEC];
- rate limits: 100 or 190 per 10 s per app, daily 250k/625k/1M per account [A, DOCS-USAGE];
  search 5 requests/s per account [B, activepieces PR #10160].
"""

from __future__ import annotations

from dataclasses import dataclass

BATCH_MAX_INPUTS = 100
BATCH_HISTORY_MAX_INPUTS = 50
LIST_DEFAULT_LIMIT = 10
LIST_MAX_LIMIT = 100
SEARCH_DEFAULT_LIMIT = 10
SEARCH_MAX_LIMIT = 200
SEARCH_MAX_RESULTS = 10_000
SEARCH_MAX_GROUPS = 5
SEARCH_MAX_FILTERS_PER_GROUP = 10
SEARCH_MAX_FILTERS_TOTAL = 25
SEARCH_QUERY_MAX_CHARS = 3000
ASSOCIATIONS_DEFAULT_LIMIT = 500
ASSOCIATIONS_MAX_LIMIT = 500
OAUTH_ACCESS_TOKEN_TTL_S = 1800
WEBHOOK_MAX_EVENTS_PER_REQUEST = 100
WEBHOOK_MAX_RETRIES = 10
WEBHOOK_NO_RETRY_STATUSES = frozenset({400, 401, 403, 404, 405})


@dataclass
class RateLimitTier:
    """A portal's published API limits; ``None`` turns a limit off (for bulk tests)."""

    per_ten_seconds: int | None = 190
    daily: int | None = 1_000_000
    search_per_second: int | None = 5


TIERS = {
    "free": RateLimitTier(per_ten_seconds=100, daily=250_000),
    "starter": RateLimitTier(per_ten_seconds=100, daily=250_000),
    "professional": RateLimitTier(per_ten_seconds=190, daily=625_000),
    "enterprise": RateLimitTier(per_ten_seconds=190, daily=1_000_000),
    "unlimited": RateLimitTier(per_ten_seconds=None, daily=None, search_per_second=None),
}
