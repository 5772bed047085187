"""Flask's JSON provider backed by orjson (a 500-event batch parses ~5x faster), and how a body is read.

An empty body is an empty object: a POST whose fields are all optional
(acknowledging a case) needs none, and one with required fields gets the
422 that names them rather than a 400 "malformed JSON". The body is parsed
strictly by :func:`parse_json_body`, after the caller is authenticated, so
a client without a key learns nothing about the schema and gets its 401 first.

A body larger than ``MAX_CONTENT_LENGTH`` is a 413 however it comes. With a
``Content-Length`` werkzeug refuses it before reading; a chunked body has
none, and werkzeug's stream then stops *at* the limit without a word, so the
JSON parser used to see a body cut in the middle (400 "malformed JSON").
:meth:`JsonRequest.get_data` looks one byte past the limit instead.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Request, request
from flask.json.provider import JSONProvider
from werkzeug.exceptions import BadRequest

from tracker.core.errors import PayloadTooLarge, UnsupportedMediaType

#: Methods whose requests carry a JSON body.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class OrjsonProvider(JSONProvider):
    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return orjson.dumps(obj, default=_fallback).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)


def _fallback(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


class JsonRequest(Request):
    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        # Flask hides the parser's message outside debug mode; a client
        # fixing its payload needs it ("unexpected character: line 1 column 2").
        raise BadRequest(f"malformed JSON: {e}")

    def get_data(  # type: ignore[override]
        self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False
    ) -> bytes | str:
        read_before = getattr(self, "_cached_data", None) is not None
        data = super().get_data(cache=cache, as_text=False, parse_form_data=parse_form_data)
        if not read_before:
            self._refuse_past_the_limit(data)
        return data.decode(errors="replace") if as_text else data

    def _refuse_past_the_limit(self, data: bytes) -> None:
        limit = self.max_content_length
        if self.content_length is not None or limit is None or len(data) < limit:
            return
        # The stream stopped at the limit (werkzeug's LimitedStream, chunked body):
        # one more byte from the server's own stream tells a body of exactly the
        # limit from a larger one.
        if self.environ["wsgi.input"].read(1):
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        if self.method in BODY_METHODS and _is_empty(self.get_data(cache=True)):
            return {}
        return super().get_json(force=force, silent=silent, cache=cache)


def _is_empty(data: bytes) -> bool:
    return not data or data.isspace()


def parse_json_body() -> None:
    """Parse this request's JSON body now, strictly: a malformed body is a 400 that
    says where the JSON breaks, not a schema error about a missing object."""
    if request.method not in BODY_METHODS or request.content_length == 0:
        return
    if request.mimetype and not request.is_json:
        raise UnsupportedMediaType(f"expected a JSON body (application/json), got {request.mimetype}")
    request.get_json(force=True)
