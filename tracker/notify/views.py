"""Webhook subscriptions over HTTP (blueprint ``webhooks``).

Merchants subscribe for their own parcels; ops (and admin) for everything.

* ``POST /api/v1/webhooks`` ``{"url", "events": [...]}``: 201 with the
  subscription and its signing ``secret`` (``whsec_...``), shown this once.
  The URL must pass the SSRF rules (:mod:`tracker.notify.targets`): a 422
  naming ``url`` otherwise. 503 when ``TRACKER_WEBHOOK_SECRET_KEY`` is not
  set (secrets are never stored in the clear).
* ``GET /api/v1/webhooks``: the caller's subscriptions (ops: all).
* ``GET /api/v1/webhooks/{webhook_id}``, ``DELETE`` (204; the log stays).
* ``POST /api/v1/webhooks/{webhook_id}/rotate`` ``{"overlap_seconds"}``: a
  new secret, shown once; the old one keeps signing (beside it) during the overlap.
* ``POST /api/v1/webhooks/{webhook_id}/enable``: re-enable a subscription
  disabled for failing.
* ``GET /api/v1/webhooks/{webhook_id}/deliveries``: the delivery log, newest
  first, paged with ``?limit=&cursor=``.
* ``POST /api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver``:
  send that notification again (same ``webhook-id``), now.

Someone else's subscription is a 404, not a 403: its existence is not ours to tell.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app, jsonify
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, ConfigDict, Field

from tracker.core.db import write_transaction
from tracker.core.errors import FieldError, NotFound, ServiceUnavailable, ValidationFailed
from tracker.core.inputs import DatabaseId, text
from tracker.core.timefmt import iso_local, iso_local_or_none
from tracker.core.vocabulary import Role
from tracker.keys.principal import Principal
from tracker.notify import deliveries, signing, subscriptions, targets
from tracker.notify.payloads import KINDS
from tracker.notify.secretbox import SecretBox, SecretsUnavailable
from tracker.web import cursors
from tracker.web.auth import AUTH_ERRORS, authenticate_request, caller
from tracker.web.runtime import runtime
from tracker.web.schemas import ErrorOut, LocalTime, StrictQuery

TAG = Tag(name="webhooks", description="Signed notifications of parcel and case changes (Standard Webhooks)")
ERRORS = {404: ErrorOut, 422: ErrorOut, **AUTH_ERRORS}
#: The longest a rotated-out secret keeps signing.
MAX_OVERLAP = timedelta(days=7)

api = APIBlueprint("webhooks", __name__, url_prefix="/api/v1", abp_tags=[TAG], abp_security=[{"bearer": []}])
api.before_request(authenticate_request)

Kind = text(32)


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    url: str = Field(
        min_length=1,
        max_length=2000,
        examples=["https://shop.example.com/hooks/tracker"],
        # U+FEFF by name: white space to JSON Schema's \s, not to Python's (see scans.schemas.Email).
        pattern=r"^[^\s\x00-\x1f\x7f-\x9f\ufeff]*$",
    )
    events: list[Kind] = Field(
        min_length=1,
        max_length=len(KINDS),
        json_schema_extra={"items": {"type": "string", "enum": list(KINDS)}},
        examples=[["parcel.status_changed", "parcel.delivered"]],
    )


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    overlap_seconds: int = Field(
        86400,
        ge=0,
        le=int(MAX_OVERLAP.total_seconds()),
        description="How long the current secret keeps signing beside the new one.",
    )


class WebhookPath(BaseModel):
    webhook_id: str = Field(max_length=32, pattern=r"^wh_[0-9a-f]{1,29}$")


class DeliveryPath(WebhookPath):
    delivery_id: DatabaseId


class WebhooksQuery(StrictQuery):
    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = Field(
        None, max_length=32, pattern=r"^wh_[0-9a-f]{1,29}$", description="From the previous page's ``next``."
    )


class DeliveriesQuery(StrictQuery):
    limit: int = Field(50, ge=1, le=500)
    cursor: DatabaseId | None = Field(None, description="From the previous page's ``next``.")


class WebhookOut(BaseModel):
    webhook_id: str
    url: str
    events: list[str]
    merchant_code: str | None = Field(
        description="The merchant whose parcels this hears of; null: all parcels."
    )
    active: bool
    disabled_reason: str | None
    created_at: LocalTime
    previous_secret_until: LocalTime | None = Field(
        description="Until when the rotated-out secret still signs."
    )


class WebhookSecretOut(WebhookOut):
    secret: str = Field(description="The signing secret (whsec_...), shown only in this answer.")


class WebhookListOut(BaseModel):
    webhooks: list[WebhookOut]
    next: str | None = Field(description="The URL of the next page; null on the last.")


class DeliveryOut(BaseModel):
    delivery_id: int
    message_id: str = Field(description="The webhook-id header and the payload's message_id.")
    kind: str
    state: str = Field(description="pending, sent, dead (the dead letter) or skipped.")
    attempts: int
    last_status: int | None = Field(description="The receiver's last HTTP status; null: no answer.")
    last_error: str | None
    last_attempt_at: LocalTime | None
    next_attempt_at: LocalTime | None
    sent_at: LocalTime | None
    created_at: LocalTime


class DeliveryListOut(BaseModel):
    deliveries: list[DeliveryOut]
    next: str | None = Field(description="The URL of the next page; null on the last.")


class RedeliveryOut(BaseModel):
    delivery_id: int = Field(description="The new delivery, due now.")
    message_id: str


def _box() -> SecretBox:
    try:
        return SecretBox(runtime().settings.webhook_secret_key)
    except SecretsUnavailable as exc:
        raise ServiceUnavailable(str(exc)) from None


def _scope(principal: Principal) -> dict[str, Any]:
    everything = principal.role in (Role.OPS, Role.ADMIN)
    return {
        "merchant_code": getattr(principal, "merchant_code", None),
        "key_id": principal.key_id,
        "everything": everything,
    }


def _out(row: Any) -> dict[str, Any]:
    zone = runtime().settings.timezone
    return dict(
        WebhookOut(
            webhook_id=row.id,
            url=row.url,
            events=list(row.events),
            merchant_code=row.merchant_code,
            active=row.active,
            disabled_reason=row.disabled_reason,
            created_at=iso_local(row.created_at, zone),
            previous_secret_until=iso_local_or_none(row.previous_secret_until, zone),
        )
    )


def _check_url(url: str) -> None:
    settings = runtime().settings
    resolver = current_app.extensions.get("tracker.webhook_resolver", targets.system_resolver)
    try:
        targets.checked_addresses(targets.parse(url), resolver, settings.webhook_allow_networks)
    except targets.TargetRefused as exc:
        raise ValidationFailed("the URL cannot receive webhooks", [FieldError("url", str(exc))]) from None


def _mine(conn: Any, webhook_id: str, principal: Principal) -> Any:
    row = subscriptions.get(conn, webhook_id, **_scope(principal))
    if row is None:
        raise NotFound(f"no webhook {webhook_id}")
    return row


@api.post(
    "/webhooks",
    summary="Subscribe a URL to notifications",
    responses={201: WebhookSecretOut, 503: ErrorOut, **ERRORS},
)
def create_webhook(body: WebhookIn):  # type: ignore[no-untyped-def]
    principal = caller(Role.MERCHANT, Role.OPS)
    unknown = [i for i, kind in enumerate(body.events) if kind not in KINDS]
    if unknown:
        raise ValidationFailed(
            "unknown event kind",
            [FieldError(f"events.{i}", f"expected one of {', '.join(KINDS)}") for i in unknown],
        )
    box = _box()  # first: without a key nothing is looked up or stored
    _check_url(body.url)
    secret = signing.new_secret()
    rt = runtime()
    scope = _scope(principal)
    with write_transaction(rt.engine) as conn:
        webhook_id = subscriptions.create(
            conn,
            url=body.url,
            events=list(body.events),
            owner_role=principal.role.value,
            merchant_code=scope["merchant_code"] if principal.role is Role.MERCHANT else None,
            key_id=principal.key_id,
            sealed_secret=box.seal(secret),
            now=rt.now(),
        )
        row = _mine(conn, webhook_id, principal)
    answer = jsonify(WebhookSecretOut(**_out(row), secret=secret))
    answer.status_code = 201
    return answer


@api.get("/webhooks", summary="Your webhook subscriptions", responses={200: WebhookListOut, **ERRORS})
def list_webhooks(query: WebhooksQuery):  # type: ignore[no-untyped-def]
    principal = caller(Role.MERCHANT, Role.OPS)
    with runtime().engine.connect() as conn:
        rows = subscriptions.listed(conn, **_scope(principal), limit=query.limit + 1, after=query.cursor)
    page, next_url = cursors.page_and_next(rows, query.limit, _id_cursor)
    return jsonify(WebhookListOut(webhooks=[WebhookOut(**_out(r)) for r in page], next=next_url))


def _id_cursor(row: Any) -> str:
    return str(row.id)


@api.get("/webhooks/<webhook_id>", summary="One webhook subscription", responses={200: WebhookOut, **ERRORS})
def get_webhook(path: WebhookPath):  # type: ignore[no-untyped-def]
    principal = caller(Role.MERCHANT, Role.OPS)
    with runtime().engine.connect() as conn:
        return jsonify(WebhookOut(**_out(_mine(conn, path.webhook_id, principal))))


@api.delete(
    "/webhooks/<webhook_id>",
    summary="End a subscription (its delivery log stays)",
    responses={204: None, **ERRORS},
)
def delete_webhook(path: WebhookPath):  # type: ignore[no-untyped-def]
    principal = caller(Role.MERCHANT, Role.OPS)
    rt = runtime()
    with write_transaction(rt.engine) as conn:
        _mine(conn, path.webhook_id, principal)
        subscriptions.end(conn, path.webhook_id, now=rt.now())
    return "", 204


@api.post(
    "/webhooks/<webhook_id>/rotate",
    summary="A new signing secret; the old one signs during the overlap",
    responses={200: WebhookSecretOut, 503: ErrorOut, **ERRORS},
)
def rotate_secret(path: WebhookPath, body: RotateIn):  # type: ignore[no-untyped-def]
    principal = caller(Role.MERCHANT, Role.OPS)
    box = _box()
    secret = signing.new_secret()
    rt = runtime()
    with write_transaction(rt.engine) as conn:
        _mine(conn, path.webhook_id, principal)
        subscriptions.rotate(
            conn,
            path.webhook_id,
            sealed_new=box.seal(secret),
            overlap_until=rt.now() + timedelta(seconds=body.overlap_seconds),
        )
        row = _mine(conn, path.webhook_id, principal)
    return jsonify(WebhookSecretOut(**_out(row), secret=secret))


@api.post(
    "/webhooks/<webhook_id>/enable",
    summary="Re-enable a subscription disabled for failing",
    responses={200: WebhookOut, **ERRORS},
)
def enable_webhook(path: WebhookPath):  # type: ignore[no-untyped-def]
    principal = caller(Role.MERCHANT, Role.OPS)
    with write_transaction(runtime().engine) as conn:
        row = _mine(conn, path.webhook_id, principal)
        _check_url(row.url)
        subscriptions.reenable(conn, path.webhook_id)
        return jsonify(WebhookOut(**_out(_mine(conn, path.webhook_id, principal))))


def _delivery(row: Any) -> DeliveryOut:
    zone = runtime().settings.timezone
    return DeliveryOut(
        delivery_id=row.id,
        message_id=row.message_id,
        kind=row.kind,
        state=row.state,
        attempts=row.attempts,
        last_status=row.last_status,
        last_error=row.last_error,
        last_attempt_at=iso_local_or_none(row.last_attempt_at, zone),
        next_attempt_at=iso_local_or_none(row.next_attempt_at, zone),
        sent_at=iso_local_or_none(row.sent_at, zone),
        created_at=iso_local(row.created_at, zone),
    )


@api.get(
    "/webhooks/<webhook_id>/deliveries",
    summary="A subscription's delivery log, newest first",
    responses={200: DeliveryListOut, **ERRORS},
)
def list_deliveries(path: WebhookPath, query: DeliveriesQuery):  # type: ignore[no-untyped-def]
    principal = caller(Role.MERCHANT, Role.OPS)
    with runtime().engine.connect() as conn:
        _mine(conn, path.webhook_id, principal)
        rows = deliveries.log(conn, path.webhook_id, limit=query.limit + 1, before_id=query.cursor)
    page, next_url = cursors.page_and_next(rows, query.limit, _id_cursor)
    return jsonify(DeliveryListOut(deliveries=[_delivery(r) for r in page], next=next_url))


@api.post(
    "/webhooks/<webhook_id>/deliveries/<int:delivery_id>/redeliver",
    summary="Send a notification again (same webhook-id), now",
    responses={202: RedeliveryOut, **ERRORS},
)
def redeliver(path: DeliveryPath):  # type: ignore[no-untyped-def]
    principal = caller(Role.MERCHANT, Role.OPS)
    rt = runtime()
    with write_transaction(rt.engine) as conn:
        _mine(conn, path.webhook_id, principal)
        row = deliveries.one(conn, path.webhook_id, path.delivery_id)
        if row is None:
            raise NotFound(f"no delivery {path.delivery_id} of webhook {path.webhook_id}")
        new_id = deliveries.redeliver(conn, path.webhook_id, row.event_id, now=rt.now())
    answer = jsonify(RedeliveryOut(delivery_id=new_id, message_id=row.message_id))
    answer.status_code = 202
    return answer
