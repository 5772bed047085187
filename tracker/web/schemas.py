"""Schemas every blueprint shares: the error answer (documented on every endpoint
that can fail, :mod:`tracker.web.openapi`), the form of a time, a reason, and
the strict query string.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: A time in an answer, as :func:`tracker.core.timefmt.iso_local` writes it: ISO 8601
#: in the configured local zone, to the second, the offset written out. Answer
#: models carry the text as written (a ``datetime`` would be re-serialised by
#: pydantic, which writes UTC as ``Z``).
LocalTime = Annotated[
    str,
    Field(
        json_schema_extra={"format": "date-time", "examples": ["2026-11-20T12:00:00+08:00"]},
        description="ISO 8601 in the local zone, to the second, with its offset.",
    ),
]


class FieldErrorOut(BaseModel):
    field: str = Field(description="The field to blame, by its path in the request: `stops.2.customer_tier`.")
    message: str


class ErrorBody(BaseModel):
    code: str = Field(description="Stable, for programs: `validation_failed`, `not_found`...")
    message: str = Field(description="For people.")
    fields: list[FieldErrorOut] = Field(description="Empty when no field is to blame.")


class ErrorOut(BaseModel):
    """Every error answer: ``{"error": {"code", "message", "fields": [...]}}``."""

    error: ErrorBody


class ReasonOut(BaseModel):
    """Why: a stable ``code`` a program can act on and a ``detail`` a person reads."""

    code: str
    detail: str


def _empty_is_documented(schema: dict[str, Any]) -> None:
    # The OpenAPI must say that an empty value is taken (schemathesis sent
    # ``?until=`` as a value the schema forbids, and saw a 200).
    for prop in schema.get("properties", {}).values():
        meta = {k: prop.pop(k) for k in ("title", "description", "default") if k in prop}
        alternatives = prop.pop("anyOf", None) or [dict(prop)]
        prop.clear()
        prop.update(meta, anyOf=[*alternatives, {"const": "", "description": "Empty: as if absent."}])


class StrictQuery(BaseModel):
    """A query string that rejects parameters it does not know (a 422 naming each).

    A known parameter with an empty value (``?tracking_number=``, as a form
    with a blank field sends) is absent: no filter, not a 422; the OpenAPI
    documents ``""`` as a value of each.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=_empty_is_documented)

    @model_validator(mode="before")
    @classmethod
    def _empty_is_absent(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (v == "" and k in cls.model_fields)}
        return data
