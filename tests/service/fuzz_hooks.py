"""Schemathesis hooks for ``tests/service/test_fuzz_api.py``: how the fuzzer is told about our API.

Loaded by ``st run`` itself (``SCHEMATHESIS_HOOKS``), in its own process; it
imports only schemathesis, hypothesis and the standard library.

Three kinds of hook, each with its reason:

* **Generation** (:func:`_years_2000_to_2099`): every time and day the API
  takes lies in 2000-2099, which the OpenAPI states with a pattern beside
  ``format: date-time`` / ``date``. Schemathesis draws such values from years
  0001-9999 and throws away the 99 % the pattern refuses, then fails its
  "filter too much" health check on the scans; it is given the years instead.
  Negative cases still break the pattern.
* **Time** (:func:`before_call`): a route solve runs for ``time_limit_s``
  (10 s unless given, up to 30): the fuzzer's solves are capped at a tenth of
  a second so that every operation gets its examples within the run's time.
  A value the schema refuses is left as it is (a negative case stays one).
* **Recorded mistakes** (:data:`MISTAKES`, :func:`filter_failure`): failures
  schemathesis reports where the API does what it documents. Each is matched
  narrowly (check, operation, and what the answer says) and carries its
  reason; every other failure fails the test. Each drop is appended to the
  file named by ``FUZZ_DROPS`` so that the test can print how often each
  rule applied.
"""

# No ``from __future__ import annotations``: schemathesis runs this file without
# registering it as a module, and dataclasses then cannot resolve string annotations.
import json
import os
import re
import string
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import schemathesis
from hypothesis import strategies as st

# -- generation ---------------------------------------------------------------------------


def _years_2000_to_2099() -> None:
    # A day away from either end: at 2000-01-01 and 2099-12-31 the bound is in UTC, so an
    # offset decides (tests/core/test_inputs.py pins those edges).
    days = st.dates(date(2000, 1, 2), date(2099, 12, 30)).map(str)

    def number(low: int, high: int) -> st.SearchStrategy[str]:
        return st.integers(low, high).map(lambda value: f"{value:02d}")

    fraction = st.just("") | st.text(alphabet=string.digits, min_size=1, max_size=6).map(".".__add__)
    clock = st.builds("{}:{}:{}{}".format, number(0, 23), number(0, 59), number(0, 59), fraction)
    offset = st.just("Z") | st.builds("{}{}:{}".format, st.sampled_from("+-"), number(0, 23), number(0, 59))
    schemathesis.openapi.format("date-time", st.builds("{}T{}{}".format, days, clock, offset))
    schemathesis.openapi.format("date", days)


_years_2000_to_2099()


# -- time ---------------------------------------------------------------------------------

#: The routing schemas' bound on ``time_limit_s``.
MAX_TIME_LIMIT_S = 30
FUZZ_TIME_LIMIT_S = 0.1


_SOLVES = re.compile(r"/routes(/optimize)?$")


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: Any) -> None:
    # Before every call of every phase (map_body does not reach the coverage phase's cases).
    body = case.body
    if not _SOLVES.search(case.operation.path) or not isinstance(body, dict):
        return
    limit = body.get("time_limit_s", FUZZ_TIME_LIMIT_S)
    if isinstance(limit, int | float) and not isinstance(limit, bool) and 0 < limit <= MAX_TIME_LIMIT_S:
        body["time_limit_s"] = min(limit, FUZZ_TIME_LIMIT_S)


# -- recorded mistakes --------------------------------------------------------------------


@dataclass(frozen=True)
class Mistake:
    """A failure schemathesis reports where the API does what it documents."""

    name: str
    #: ST code of the failure (``st explain``).
    code: str
    #: The operation (``"GET /api/v1/cases"``), a regular expression matched in full.
    operation: str
    why: str

    def matches(self, failure: Any, case: Any, response: Any) -> bool:
        label = f"{case.method.upper()} {case.operation.path}"
        return failure.code == self.code and re.fullmatch(self.operation, label) is not None


@dataclass(frozen=True)
class UnstatedRule(Mistake):
    """A schema-valid request refused (422) by a rule JSON Schema cannot state.

    Judged together (:func:`_unstated_rules`): every field the answer blames
    must be explained by a rule of the operation (a field matching ``fields``,
    its message matching ``message``); a 422 that blames anything else fails.
    """

    fields: str = ""
    message: str = ""

    def explains(self, field: str, message: str) -> bool:
        return re.fullmatch(self.fields, field) is not None and re.search(self.message, message) is not None

    def matches(self, failure: Any, case: Any, response: Any) -> bool:
        return False  # judged together, by _unstated_rules


def _unstated_rules(failure: Any, case: Any, response: Any) -> list[str] | None:
    """The names of the rules that explain every field this 422 blames, or None."""
    if failure.code != "ST202" or response.status_code != 422:
        return None
    rules = [
        m for m in MISTAKES if isinstance(m, UnstatedRule) and Mistake.matches(m, failure, case, response)
    ]
    blamed = _error_fields(response)
    used = []
    for field, message in blamed:
        rule = next((r for r in rules if r.explains(field, message)), None)
        if rule is None:
            return None
        used.append(rule.name)
    return sorted(set(used)) or None


def _error_fields(response: Any) -> list[tuple[str, str]]:
    try:
        body = json.loads(response.content)
        return [(f["field"], f["message"]) for f in body["error"]["fields"]]
    except (ValueError, KeyError, TypeError):
        return []


@dataclass(frozen=True)
class RefusedByGunicorn(Mistake):
    """A request line longer than gunicorn takes (``limit_request_line``, 4094 bytes).

    gunicorn answers 414 URI Too Long itself, before the application sees the
    request: no operation answers it, and the request was refused, not taken.
    """

    def matches(self, failure: Any, case: Any, response: Any) -> bool:
        if not super().matches(failure, case, response) or response.status_code != 414:
            return False
        url = urlsplit(response.request.url)
        target = url.path + (f"?{url.query}" if url.query else "")
        return len(f"{case.method.upper()} {target} HTTP/1.1") > 4094


@dataclass(frozen=True)
class BatchRejectsItsEvent(Mistake):
    """A batch of scans answers 200 with a result per event; a bad event is ``rejected`` there.

    That is the documented contract (a bad event never fails its batch, issue
    11): the batch's answer is the rejection. Only when it rejected an event.
    """

    def matches(self, failure: Any, case: Any, response: Any) -> bool:
        if not super().matches(failure, case, response) or response.status_code != 200:
            return False
        try:
            return bool(json.loads(response.content)["rejected"])
        except (ValueError, KeyError, TypeError):
            return False


_ANY_TIME = r"since|until|occurred_at|ordered_at|appointment\.(start|end)|start|end"

MISTAKES: list[Mistake] = [
    UnstatedRule(
        "webhook URL leads where webhooks may go",
        "ST202",
        r"POST /api/v1/webhooks",
        "an http(s) URL whose host resolves to public addresses only (tracker.notify.targets): the"
        " resolution happens at request time, no schema can state it",
        fields="url",
        message="only http and https|not a valid URL|names no host|user or password|does not resolve|leads to",
    ),
    UnstatedRule(
        "a re-enabled webhook's URL still leads where webhooks may go",
        "ST202",
        r"POST /api/v1/webhooks/\{webhook_id\}/enable",
        "re-enabling resolves the stored URL again (tracker.notify.targets): what its host resolves"
        " to now is the network's, not the request's, and no schema can state it",
        fields="url",
        message="does not resolve|leads to",
    ),
    UnstatedRule(
        "a damage complaint says what is damaged",
        "ST202",
        r"POST /api/v1/track/\{tracking_number\}/feedback",
        "a complaint about damage needs a description, the others do not: a condition between two"
        " fields of one member of the feedback union",
        fields="description",
        message="say what is damaged",
    ),
    UnstatedRule(
        "opaque cursor",
        "ST202",
        r"GET /api/v1/.*",
        "a cursor (EPCIS: a page token) is opaque: any short string is schema-valid, only the ones"
        " this API gave out decode",
        fields="cursor|nextPageToken",
        message="not a cursor this API gave out|not a page token of this server",
    ),
    UnstatedRule(
        "a cursor of the other sort order",
        "ST202",
        r"GET /api/v1/cases",
        "a cursor this API gave out for one sort order is refused with the other: what an opaque"
        " cursor holds is the server's, a schema cannot tie it to the sort parameter",
        fields="cursor",
        message="not a cursor of this sort order",
    ),
    UnstatedRule(
        "until after since",
        "ST202",
        r"GET /api/v1/(cases|couriers/\{courier_id\}/scorecard|facilities/\{facility\}/scorecard|hotspots/damage)",
        "an order between two parameters: JSON Schema has no way to state it",
        fields="until",
        message="must be after since",
    ),
    UnstatedRule(
        "times that need the clock",
        "ST202",
        r"(POST|PATCH) /api/v1/.*",
        "how far ahead a time may lie depends on now (a scan: the clock skew; a plan: a year;"
        " a station's day: from today to a year ahead), which a static schema cannot know",
        fields=rf"({_ANY_TIME}|events\.\d+\.occurred_at|date|shift_(start|end)|vehicles\.\d+\.shift_(start|end)"
        r"|stops\.\d+\.(promised_by|appointment\.(start|end)|window\.(start|end)))",
        message=r"in the future|more than a year ahead|plans reach a year|a year from today|is before today",
    ),
    UnstatedRule(
        "registration refers to configured and stored things",
        "ST202",
        r"POST /api/v1/parcels|PATCH /api/v1/parcels/\{tracking_number\}",
        "service levels are the server's configuration, facilities are rows: a schema cannot list"
        " them; the others are orders between two fields, or what the chosen level's promise needs",
        fields=r"service_level|origin_facility|pickup_point|perishable\.max_c|appointment\.end"
        r"|destination\.(lat|lon|region|city)|ordered_at",
        message=r"unknown service level|unknown facility code|not a pickup point|must be above min_c"
        r"|the window ends before it starts|lat and lon come together|required: service level",
    ),
    UnstatedRule(
        "an SSCC names one parcel",
        "ST202",
        r"POST /api/v1/parcels",
        "an SSCC another stored parcel holds is refused (EPCIS events reach parcels by SSCC): a"
        " uniqueness across rows, which a schema cannot state; a correction cannot change the SSCC",
        fields="sscc",
        message="already the SSCC of parcel",
    ),
    UnstatedRule(
        "a scan's fields depend on each other and on stored things",
        "ST202",
        r"POST /api/v1/scans",
        "lat with lon, a damage object for a damaged scan, a reason for a failed delivery, a"
        " pickup code on a collected scan only, are conditions between fields; facility and"
        " courier codes are rows",
        fields=r"lat|lon|damage|reason|pickup_code|facility|courier_id",
        message=r"lat and lon come together|needs a damage object|needs a reason|unknown facility"
        r"|unknown courier|only a collected scan carries a pickup code",
    ),
    UnstatedRule(
        "a routing problem's fields depend on each other",
        "ST202",
        r"POST /api/v1/routes/optimize",
        "a shift ends after it starts, a window after it opens, a stop fits some vehicle, ids are"
        " unique within their list, a stop's vehicle_id names a vehicle of the list, a shift is"
        " long enough to drive from its start point to its end point (the solver's travel time"
        " between two coordinates) and does not end before the problem's start: orders,"
        " comparisons and references between fields and list items",
        fields=r"vehicles\.\d+\.(shift_end|vehicle_id)|stops\.\d+\.(window\.end|appointment\.end|parcels"
        r"|weight_kg|stop_id|vehicle_id)",
        message=r"must be after shift_start|ends before the window starts|fit in no vehicle|repeats the id"
        r"|names no vehicle of the problem|the shift is too short to drive",
    ),
    UnstatedRule(
        "a station's day needs its couriers and a shift in order",
        "ST202",
        r"POST /api/v1/facilities/\{facility\}/routes",
        "a shift's end after its start is an order between two fields; whether couriers are based"
        " at the facility is stored data; whether today's shift is over depends on the clock"
        " (after 20:00 local time the default shift has passed)",
        fields=r"shift\.end|facility",
        message=r"must be after start|has no couriers|has passed",
    ),
    UnstatedRule(
        "a case is assigned to a stored console user",
        "ST202",
        r"POST /api/v1/cases/\{case_id\}/assign",
        "the ops console's users are rows (tracker users create): a schema cannot list them",
        fields="assignee",
        message="no active console user",
    ),
    UnstatedRule(
        "an EPCIS location maps to a stored facility",
        "ST202",
        r"POST /api/v1/epcis/locations",
        "facilities are rows: a schema cannot list them (admin keys only, which the fuzzer does"
        " not hold today)",
        fields="facility",
        message="unknown facility code",
    ),
    RefusedByGunicorn(
        "request line too long (status)",
        "ST103",
        r".*",
        "gunicorn refuses a request line over 4094 bytes with its own 414, before any operation",
    ),
    RefusedByGunicorn(
        "request line too long (negative data)",
        "ST201",
        r".*",
        "a 414 from the HTTP server is a refusal of the request, which is what the check wants",
    ),
    RefusedByGunicorn(
        "request line too long (schema-valid data)",
        "ST202",
        r".*",
        "query values each within their documented length can add up, percent-encoded (a CJK"
        " character is 9 bytes), past the 4094 bytes of a request line that gunicorn reads:"
        " a limit of the HTTP server, not of an operation",
    ),
    BatchRejectsItsEvent(
        "a batch rejects its bad event",
        "ST201",
        r"POST /api/v1/scans",
        "a batch answers 200 with each event's result; the bad event is rejected there (issue 11:"
        " a bad event never fails its batch)",
    ),
]


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure but the recorded mistakes (False drops it)."""
    explained = _unstated_rules(failure, case, response)
    if explained:
        _note_drop(" + ".join(explained))
        return False
    for mistake in MISTAKES:
        if mistake.matches(failure, case, response):
            _note_drop(mistake.name)
            return False
    return True


def _note_drop(name: str) -> None:
    path = os.environ.get("FUZZ_DROPS")
    if path:
        with open(path, "a", encoding="utf-8") as drops:
            drops.write(name + "\n")
