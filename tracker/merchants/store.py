"""Merchant records: creating and listing them (a ``Connection`` in, never a commit).

A merchant is a code and a name; its keys (``api_keys.merchant_code``) and the
parcels it registered (``parcels.merchant_code``) name it by code, which is
what scopes everything a merchant key reads or writes
(:mod:`tracker.merchants.parcels`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Connection, insert, select

from tracker.core.errors import Conflict, FieldError, ValidationFailed, field_errors
from tracker.core.inputs import text
from tracker.core.models import Merchant

MerchantCode = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class MerchantIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    code: MerchantCode
    name: text(200, min_length=1)  # type: ignore[valid-type]


def create_merchant(conn: Connection, code: str, name: str, *, now: datetime) -> dict[str, Any]:
    """Store a merchant; a code already taken is a conflict (codes are never reused)."""
    try:
        merchant = MerchantIn(code=code, name=name)
    except ValidationError as exc:
        raise ValidationFailed("cannot create the merchant", field_errors(exc)) from None
    if conn.scalar(select(Merchant.id).where(Merchant.code == merchant.code)) is not None:
        raise Conflict(
            f"merchant {merchant.code} exists already", [FieldError("code", "already a merchant's code")]
        )
    conn.execute(insert(Merchant).values(code=merchant.code, name=merchant.name, created_at=now))
    return {"code": merchant.code, "name": merchant.name, "created_at": now}


def list_merchants(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(Merchant.code, Merchant.name, Merchant.created_at).order_by(Merchant.code))
    return [{"code": r.code, "name": r.name, "created_at": r.created_at} for r in rows]
