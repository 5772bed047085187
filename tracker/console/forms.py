"""The console's forms, checked by the same rules as the JSON API's bodies (:mod:`tracker.core.inputs`).

Each form is a pydantic model; :func:`read_form` turns a posted form into
it, or into a list of field errors the page shows beside the form. The
CSRF token (``csrf_token``) and the language (``lang``) travel with every
form and are not part of any model.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tracker.cases.reasons import RESOLUTIONS
from tracker.core.errors import FieldError, field_errors
from tracker.core.inputs import CaseNote, Message, Username

#: Fields of every form that the models do not take.
ENVELOPE = frozenset({"csrf_token", "lang", "next"})


class _Form(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SignInForm(_Form):
    username: Username
    # Checked against the hash only: any text up to a sane length.
    password: str = Field(min_length=1, max_length=200)


class AcknowledgeForm(_Form):
    note: CaseNote | None = None


class AssignForm(_Form):
    assignee: Username
    note: CaseNote | None = None


class AnswerForm(_Form):
    message: Message


class ResolveForm(_Form):
    resolution: str
    note: CaseNote | None = None

    @field_validator("resolution")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in RESOLUTIONS:
            raise ValueError("choose one of the resolutions")
        return value


F = TypeVar("F", bound=BaseModel)


def read_form(model: type[F], form: Any) -> tuple[F | None, list[FieldError]]:
    """``(model, [])`` or ``(None, errors)``; empty fields are left out (a select's "none")."""
    values = {k: v for k, v in form.items() if k not in ENVELOPE and v != ""}
    try:
        return model.model_validate(values), []
    except ValidationError as exc:
        return None, field_errors(exc)
