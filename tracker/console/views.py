"""The ops console: the ``console`` blueprint at ``/ops`` (HTML pages and plain forms).

===========================================  ==========================================
page                                         what
===========================================  ==========================================
GET  /ops, /ops/cases                        the case queue: filters, priority order, pages
GET  /ops/cases/<case_id>                    reasons, history, parcel; the actions' forms
POST /ops/cases/<case_id>/<action>           acknowledge, assign, answer, resolve
GET  /ops/parcels?q=                         search by tracking number or phone's last 4
GET  /ops/parcels/<tracking_number>          everything about a parcel, unmasked
GET  /ops/scorecards, /ops/couriers/<c>,     courier and facility scorecards
     /ops/facilities/<f>
GET  /ops/hotspots                           damage hotspots
GET  /ops/plans, /ops/plans/<plan_id>        station route plans, drawn on a map
GET  /ops/keys, POST /ops/keys/<id>/revoke   API keys (revoking: admin only)
GET, POST /ops/login; POST /ops/logout       signing in and out
GET  /ops/language/<code>                    the language switch
===========================================  ==========================================

Every page but the sign-in wants a signed-in, active user
(:mod:`tracker.console.auth`); every POST carries the CSRF token. Each
action runs one transaction through the domain stores, recorded in the
case's history with the actor ``user:<username>``, then redirects (303) to
the page it came from; a refused form is shown again with its errors (422)
or the conflict (409). The language is chosen as on the tracking pages
(``?lang=``, the ``lang`` cookie, ``Accept-Language``) and a ``?lang=``
rides along on every link and form of the page.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, make_response, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError
from markupsafe import Markup

from tracker.cases import store as cases
from tracker.cases.priority import SEVERITY
from tracker.console import auth, forms, labels, queue, reads, users
from tracker.console.labels import _l
from tracker.core.db import write_transaction
from tracker.core.errors import Conflict, NotFound, TrackerError, ValidationFailed
from tracker.core.inputs import BIGINT_MAX
from tracker.core.vocabulary import CaseType, CustomerTier, UserRole
from tracker.detection import hotspots, scorecards
from tracker.keys import store as keys
from tracker.routing import store as routing
from tracker.scans.parcels import parcel_record
from tracker.tracking import http, i18n
from tracker.web.runtime import runtime

console = Blueprint("console", __name__, url_prefix="/ops")

#: Endpoints a visitor who is not signed in may reach.
OPEN_ENDPOINTS = frozenset({"console.sign_in", "console.language"})
TRACKING_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{5,39}$")
LANGUAGES = [(code, i18n.NAMES[code], i18n.TAGS[code]) for code in i18n.LOCALES]
SCORECARD_DAYS = (1, 7, 30)


# -- the request around every page ------------------------------------------------------------


@console.before_request
def _signed_in() -> Response | None:
    if request.method == "POST":
        auth.check_csrf()  # before anything else: a forged form learns nothing, not even who is signed in
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if auth.current_user() is None:
        target = request.full_path if request.method == "GET" else url_for("console.queue_page")
        return redirect(link("console.sign_in", next=target.rstrip("?")), 303)
    return None


def link(endpoint: str, **values: Any) -> str:
    """``url_for`` that keeps this request's ``?lang=`` (the language chosen by a link rides along)."""
    lang = request.args.get("lang")
    if lang and "lang" not in values:
        values["lang"] = lang
    return url_for(endpoint, **values)


def security_headers() -> dict[str, str]:
    tiles = auth.config().tile_url
    tile_origin = ""
    if tiles:
        parts = urlsplit(tiles.replace("{s}", "a"))
        tile_origin = " " + f"{parts.scheme}://{parts.netloc}".replace("://a.", "://*.")
    return {
        # Scripts and styles from /static only (Leaflet vendored); images also from the tile host.
        "Content-Security-Policy": (
            "default-src 'none'; script-src 'self'; style-src 'self'; "
            f"img-src 'self' data:{tile_origin}; connect-src 'self'; form-action 'self'; "
            "base-uri 'none'; frame-ancestors 'none'"
        ),
        "Referrer-Policy": "same-origin",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Cache-Control": "private, no-store",
    }


def _gettext(words: i18n.Words) -> Callable[..., Markup]:
    def gettext(message: str, **variables: Any) -> Markup:
        # The message is markup, the variables are escaped (Jinja's new-style gettext).
        translated = Markup(words.gettext(message))
        return translated % variables if variables else translated

    return gettext


def _when(words: i18n.Words) -> Callable[[Any], str]:
    def when(value: Any) -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return words.when(value)

    return when


def _span(words: i18n.Words) -> Callable[[Any, Any], str]:
    """Two times as one window: ``12月2日周三 08:00-08:32`` when they share a day."""

    def span(start: Any, end: Any) -> str:
        if not start or not end:
            return ""
        start, end = (datetime.fromisoformat(v) if isinstance(v, str) else v for v in (start, end))
        return words.window(start, end)

    return span


def _switch_target() -> str:
    query = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
    return request.path + (f"?{urlencode(query)}" if query else "")


def render(template: str, status: int = 200, **context: Any) -> Response:
    words = http.words()
    _ = _gettext(words)
    user = auth.current_user() if request.endpoint not in OPEN_ENDPOINTS else None
    html = render_template(
        template,
        _=_,
        w=words,
        user=user,
        is_admin=user is not None and UserRole(user.role) is UserRole.ADMIN,
        languages=LANGUAGES,
        switch_next=_switch_target(),
        link=link,
        when=_when(words),
        span=_span(words),
        label=lambda kind, code: _(labels.label(kind, code)),
        lang=request.args.get("lang", ""),
        **context,
    )
    response = make_response(html, status)
    response.headers.update(security_headers())
    response.headers["Content-Language"] = words.tag
    response.headers["Vary"] = "Accept-Language, Cookie"
    return response


def words_gettext(message: str, **variables: Any) -> str:
    return http.words().gettext(message, **variables)


def back(endpoint: str, anchor: str = "", **values: Any) -> Response:
    return redirect(link(endpoint, **values) + anchor, 303)


# -- signing in and out ---------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    # Only our own console: never an open redirect.
    if target and target.startswith("/ops") and not target.startswith("//") and "\\" not in target:
        return target
    return link("console.queue_page")


#: The session's note of its user's last change (:func:`_reading`).
WROTE_AT = "wrote_at"


def _wrote() -> None:
    """Remember that this user just changed something (the next pages read the primary)."""
    session[WROTE_AT] = time.time()


def _reading() -> Any:
    """A connection for a page's reads: a replica's, unless this user changed something lately.

    Pages may lag a moment behind the primary (tracker.core.replicas), but not
    behind the user's own change: for as long as a replica may still be that far
    behind (its lag bound plus one health check, and a second of margin) after
    the user's last action, the page reads the primary, so the page reloaded
    after a POST shows what the POST did.
    """
    rt = runtime()
    reads = rt.reads
    wrote = session.get(WROTE_AT)
    if isinstance(wrote, int | float) and time.time() - wrote < reads.max_lag + reads.check_every + 1:
        return rt.engine.connect()
    return reads.connect()


@console.route("/login", methods=["GET", "POST"])
def sign_in():  # type: ignore[no-untyped-def]
    if request.method == "GET":
        if auth.current_user() is not None:
            return redirect(_safe_next(request.args.get("next")), 303)
        return render("console/login.html", next=request.args.get("next", ""))
    words = http.words()
    form, _errors = forms.read_form(forms.SignInForm, request.form)
    username = (request.form.get("username") or "").strip()
    try:
        auth.count_sign_in(username)
    except auth.SignInLimited as limited:
        response = render(
            "console/login.html",
            429,
            next=request.form.get("next", ""),
            username=username,
            error=words.gettext(
                "Too many sign-in tries. Please wait %(minutes)d minutes.",
                minutes=max(1, -(-limited.retry_after // 60)),
            ),
        )
        response.headers["Retry-After"] = str(limited.retry_after)
        return response
    user = auth.sign_in(form.username, form.password) if form is not None else None
    if user is None:
        # One answer for an unknown user, a wrong password and a disabled user.
        return render(
            "console/login.html",
            401,
            next=request.form.get("next", ""),
            username=username,
            error=words.gettext("Wrong username or password."),
        )
    return redirect(_safe_next(request.form.get("next")), 303)


@console.post("/logout")
def sign_out():  # type: ignore[no-untyped-def]
    auth.sign_out()
    return back("console.sign_in")


@console.get("/language/<code>")
def language(code: str):  # type: ignore[no-untyped-def]
    # The tracking pages' cookie: one language choice for the whole site.
    return http.remember_language(redirect(_safe_next(request.args.get("next")), 303), code)


# -- cases ----------------------------------------------------------------------------------------


@console.get("")
@console.get("/")
@console.get("/cases")
def queue_page():  # type: ignore[no-untyped-def]
    filters = queue.QueueFilter.parse(request.args.to_dict())
    rt = runtime()
    now = rt.now()
    with _reading() as conn:
        rows, more = reads.case_queue(conn, filters, now=now)
    items = []
    for r in rows:
        due = queue.due_at(CaseType(r.type), CustomerTier(r.customer_tier), r.opened_at, r.due_at)
        items.append({"row": r, "due": due, "overdue": r.state != "resolved" and due < now})
    return render(
        "console/queue.html",
        filters=filters,
        items=items,
        more=more,
        case_types=[t.value for t in SEVERITY],
        statuses=list(queue.STATUSES),
        ages=list(queue.AGES),
        tiers=[t.value for t in CustomerTier],
    )


def _case_page(case_id: int, status: int = 200, **state: Any) -> Response:
    rt = runtime()
    zone = rt.settings.timezone
    with _reading() as conn:
        row = reads.case_row(conn, case_id)
        if row is None:
            raise NotFound(f"no case {case_id}")
        history = cases.history(conn, case_id, zone=zone)
        assignees = users.list_users(conn, active_only=True)
    case = row
    return render(
        "console/case.html",
        status,
        case=case,
        tracking_number=row.tracking_number,
        tier=row.customer_tier,
        reasons=cases.local_reasons(case.reasons, zone),
        history=list(reversed(history)),
        assignees=assignees,
        resolutions=sorted(cases.RESOLUTIONS),
        due=queue.due_at(CaseType(case.type), CustomerTier(row.customer_tier), case.opened_at, case.due_at),
        **state,
    )


#: A row id in a console URL: a number the database's ids can hold, so a longer one is a
#: 404 like any unknown id (SQLite and PostgreSQL refuse to compare past 64 bits: a 500).
ROW_ID = f"int(max={BIGINT_MAX})"


@console.get(f"/cases/<{ROW_ID}:case_id>")
def case_page(case_id: int):  # type: ignore[no-untyped-def]
    return _case_page(case_id, done=request.args.get("done"))


#: Each action: its form, and what it does inside the transaction.
_ACTIONS: dict[str, tuple[type[Any], Callable[..., None]]] = {
    "acknowledge": (
        forms.AcknowledgeForm,
        lambda conn, case_id, f, **kw: cases.acknowledge(conn, case_id, note=f.note, **kw),
    ),
    "assign": (
        forms.AssignForm,
        lambda conn, case_id, f, **kw: cases.assign(conn, case_id, assignee=f.assignee, note=f.note, **kw),
    ),
    "answer": (
        forms.AnswerForm,
        lambda conn, case_id, f, now, actor: cases.answer_case(
            conn, case_id, message=f.message, actor=actor, now=now
        ),
    ),
    "resolve": (
        forms.ResolveForm,
        lambda conn, case_id, f, **kw: cases.resolve(conn, case_id, f.resolution, note=f.note, **kw),
    ),
}


@console.post(f"/cases/<{ROW_ID}:case_id>/<action>")
def case_action(case_id: int, action: str):  # type: ignore[no-untyped-def]
    if action not in _ACTIONS:
        raise NotFound(f"no action {action}")
    model, do = _ACTIONS[action]
    form, errors = forms.read_form(model, request.form)
    values = {k: v for k, v in request.form.items() if k not in forms.ENVELOPE}
    if form is None:
        return _case_page(case_id, 422, form_errors=errors, error_form=action, values=values)
    rt = runtime()
    try:
        with write_transaction(rt.engine) as conn:
            do(conn, case_id, form, now=rt.now(), actor=auth.actor())
        _wrote()
    except ValidationFailed as exc:
        return _case_page(case_id, 422, form_errors=exc.fields, error_form=action, values=values)
    except Conflict as exc:
        return _case_page(case_id, 409, conflict=exc.message, error_form=action, values=values)
    return back("console.case_page", "#history", case_id=case_id, done=action)


# -- parcels --------------------------------------------------------------------------------------


@console.get("/parcels")
def parcel_search():  # type: ignore[no-untyped-def]
    raw = (request.args.get("q") or "").strip()
    found: list[Any] = []
    error = None
    if raw:
        compact = "".join(raw.split())
        suffix = queue.phone_suffix(compact)
        if suffix is None and not TRACKING_NUMBER.match(compact):
            error = words_gettext(
                _l("Enter a tracking number or the last four digits of the recipient's phone.")
            )
        else:
            with _reading() as conn:
                found = reads.find_parcels(
                    conn, tracking_number=None if suffix else compact, phone_suffix=suffix
                )
            if len(found) == 1 and not suffix:
                return back("console.parcel_page", tracking_number=found[0].tracking_number)
    return render("console/parcels.html", 400 if error else 200, q=raw, found=found, error=error)


@console.get("/parcels/<tracking_number>")
def parcel_page(tracking_number: str):  # type: ignore[no-untyped-def]
    if not TRACKING_NUMBER.match(tracking_number):
        raise NotFound(f"no parcel with tracking number {tracking_number}")
    rt = runtime()
    zone = rt.settings.timezone
    with _reading() as conn:
        record = parcel_record(conn, tracking_number, zone=zone)
        pid = reads.parcel_id(conn, tracking_number)
        assert pid is not None
        reports, rating = reads.parcel_feedback(conn, pid)
        stop = reads.parcel_route_stop(conn, pid)
        answers = cases.customer_answers(conn, pid)
    return render(
        "console/parcel.html",
        p=record,
        events=list(reversed(record["events"])),
        reports=reports,
        rating=rating,
        stop=stop,
        answers=answers,
    )


# -- scorecards and hotspots ---------------------------------------------------------------------


def _period() -> tuple[int, datetime, datetime]:
    days = request.args.get("days", "7")
    chosen = int(days) if days.isdigit() and int(days) in SCORECARD_DAYS else 7
    until = runtime().now()
    return chosen, until - timedelta(days=chosen), until


@console.get("/scorecards")
def scorecards_page():  # type: ignore[no-untyped-def]
    with _reading() as conn:
        couriers, facilities = reads.directory(conn)
    return render("console/scorecards.html", couriers=couriers, facilities=facilities)


@console.get("/couriers/<courier_id>")
def courier_page(courier_id: str):  # type: ignore[no-untyped-def]
    return _scorecard("courier", courier_id, scorecards.courier_scorecard)


@console.get("/facilities/<facility>")
def facility_page(facility: str):  # type: ignore[no-untyped-def]
    return _scorecard("facility", facility, scorecards.facility_scorecard)


def _scorecard(kind: str, code: str, read: Callable[..., dict[str, Any]]) -> Response:
    days, since, until = _period()
    rt = runtime()
    with _reading() as conn:
        card = read(conn, code[:32], since=since, until=until, zone=rt.settings.timezone)
    return render(
        "console/scorecard.html", kind=kind, code=code, card=card, days=days, choices=SCORECARD_DAYS
    )


@console.get("/hotspots")
def hotspots_page():  # type: ignore[no-untyped-def]
    days, since, until = _period()
    rt = runtime()
    flagged_only = request.args.get("flagged") == "1"
    with _reading() as conn:
        report = hotspots.damage_hotspots(conn, since=since, until=until, zone=rt.settings.timezone)
    rates = [hotspots.rate_dict(r) for r in report.pop("rates") if r.flagged or not flagged_only][:200]
    return render(
        "console/hotspots.html",
        report=report,
        rates=rates,
        days=days,
        choices=SCORECARD_DAYS,
        flagged_only=flagged_only,
    )


# -- station plans --------------------------------------------------------------------------------


@console.get("/plans")
def plans_page():  # type: ignore[no-untyped-def]
    facility = (request.args.get("facility") or "").strip()[:32] or None
    with _reading() as conn:
        plans = reads.station_plans(conn, facility=facility)
    return render("console/plans.html", plans=plans, facility=facility or "")


@console.get(f"/plans/<{ROW_ID}:plan_id>")
def plan_page(plan_id: int):  # type: ignore[no-untyped-def]
    rt = runtime()
    with _reading() as conn:
        if not reads.plan_exists(conn, plan_id):
            raise NotFound(f"no plan {plan_id}")
        plan = routing.plan_record(conn, plan_id, zone=rt.settings.timezone)
        drawing = reads.plan_map(conn, plan_id)
    tiles = auth.config().tile_url
    return render(
        "console/plan.html",
        plan=plan,
        map_data=json.dumps({**drawing, "tiles": tiles}, ensure_ascii=False).replace("</", "<\\/"),
    )


# -- API keys -------------------------------------------------------------------------------------


@console.get("/keys")
def keys_page():  # type: ignore[no-untyped-def]
    with _reading() as conn:
        listed = keys.list_keys(conn)[::-1]  # newest first
    return render("console/keys.html", keys=listed, done=request.args.get("done"))


@console.post(f"/keys/<{ROW_ID}:key_id>/revoke")
def revoke_key(key_id: int):  # type: ignore[no-untyped-def]
    auth.require_admin()
    rt = runtime()
    with write_transaction(rt.engine) as conn:
        keys.revoke_key(conn, str(key_id), now=rt.now())
    _wrote()
    return back("console.keys_page", done="revoked")


# -- errors ---------------------------------------------------------------------------------------


@console.errorhandler(TrackerError)
def error_page(error: TrackerError) -> Response:
    """An error as a console page (also for ``/ops`` URLs that match no route: tracker.web.errors)."""
    words = http.words()
    titles = {403: _l("You may not do this"), 404: _l("Not found")}
    title = titles.get(error.status, _l("Something went wrong"))
    return render("console/error.html", error.status, title=words.gettext(title), message=error.message)


@console.errorhandler(CSRFError)
def _csrf_error(error: CSRFError) -> Response:
    words = http.words()
    return render(
        "console/error.html",
        400,
        title=words.gettext("The form has expired"),
        message=words.gettext("Please go back, reload the page and send the form again."),
    )
