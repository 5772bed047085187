"""The error answer's schema, documented on every endpoint that can fail."""

from __future__ import annotations

from pydantic import BaseModel


class ErrorBody(BaseModel):
    code: str
    message: str
    fields: list[dict[str, str]]


class ErrorOut(BaseModel):
    error: ErrorBody
