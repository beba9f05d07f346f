"""The route table: method + path → handler and the kind of call (data only).

Kinds: ``api`` (bearer auth, counted against the 10-secondly/daily limits), ``search`` (also the
per-second search limit, no rate-limit headers), ``public`` (no auth: the OAuth token endpoint),
``developer`` (the app's developer API key as ``?hapikey=``: webhook settings) [A, SPEC security].
Object types are accepted by name and by type id (``contacts``/``0-1``, …) [A, SPEC deals paths use 0-3].
Order matters: fixed segments (``batch``, ``search``, ``merge``) precede ``{objectId}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.hubspot import responses as r

Handler = Callable[[r.Ctx], tuple[int, Any]]

OBJ = "/crm/v3/objects/{objectType}"
V4 = "/crm/v4/objects/{objectType}/{objectId}/associations"
V4B = "/crm/v4/associations/{fromObjectType}/{toObjectType}/batch"
WH = "/webhooks/v3/{appId}"

ROUTES: list[tuple[str, str, Handler, str]] = [
    ("POST", "/oauth/v1/token", r.oauth_token, "public"),
    ("GET", "/oauth/v1/access-tokens/{token}", r.oauth_access_token_info, "public"),
    ("GET", "/crm/v3/properties/{objectType}", r.properties_list, "api"),
    ("POST", "/crm/v3/properties/{objectType}", r.property_create, "api"),
    ("GET", "/crm/v3/properties/{objectType}/{propertyName}", r.property_get, "api"),
    ("PATCH", "/crm/v3/properties/{objectType}/{propertyName}", r.property_update, "api"),
    ("POST", OBJ + "/batch/read", r.batch_read, "api"),
    ("POST", OBJ + "/batch/create", r.batch_create, "api"),
    ("POST", OBJ + "/batch/update", r.batch_update, "api"),
    ("POST", OBJ + "/batch/upsert", r.batch_upsert, "api"),
    ("POST", OBJ + "/batch/archive", r.batch_archive, "api"),
    ("POST", OBJ + "/search", r.search, "search"),
    ("POST", OBJ + "/merge", r.merge_objects, "api"),
    ("POST", OBJ + "/gdpr-delete", r.gdpr_delete, "api"),
    ("GET", OBJ, r.list_objects, "api"),
    ("POST", OBJ, r.create_object, "api"),
    ("GET", OBJ + "/{objectId}", r.get_object, "api"),
    ("PATCH", OBJ + "/{objectId}", r.update_object, "api"),
    ("DELETE", OBJ + "/{objectId}", r.archive_object, "api"),
    ("PUT", V4 + "/default/{toObjectType}/{toObjectId}", r.assoc_create_default, "api"),
    ("PUT", V4 + "/{toObjectType}/{toObjectId}", r.assoc_create_labelled, "api"),
    ("DELETE", V4 + "/{toObjectType}/{toObjectId}", r.assoc_delete, "api"),
    ("GET", V4 + "/{toObjectType}", r.assoc_list, "api"),
    ("POST", V4B + "/read", r.assoc_batch_read, "api"),
    ("POST", V4B + "/associate/default", r.assoc_batch_default, "api"),
    ("POST", V4B + "/create", r.assoc_batch_create, "api"),
    ("POST", V4B + "/archive", r.assoc_batch_archive, "api"),
    ("GET", WH + "/settings", r.webhook_settings_get, "developer"),
    ("PUT", WH + "/settings", r.webhook_settings_put, "developer"),
    ("DELETE", WH + "/settings", r.webhook_settings_delete, "developer"),
    ("GET", WH + "/subscriptions", r.webhook_subscriptions_list, "developer"),
    ("POST", WH + "/subscriptions", r.webhook_subscription_create, "developer"),
    ("GET", WH + "/subscriptions/{subscriptionId}", r.webhook_subscription_get, "developer"),
    ("PATCH", WH + "/subscriptions/{subscriptionId}", r.webhook_subscription_patch, "developer"),
    ("DELETE", WH + "/subscriptions/{subscriptionId}", r.webhook_subscription_delete, "developer"),
]
