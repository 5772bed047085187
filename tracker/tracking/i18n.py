"""Languages of the tracking page: which one, and the words in it.

The customer's language is chosen, first match wins, from

1. ``?lang=`` on the request (a link someone shared, a test),
2. the ``lang`` cookie that the page's visible language switch sets,
3. the browser's ``Accept-Language``,
4. Chinese (``zh_CN``), the language of most of our customers.

Any Chinese variant (``zh``, ``zh-Hans``, ``zh-TW``) maps to ``zh_CN`` (the only
Chinese catalog); any English one to ``en``. Message ids are English; the
catalogs live in ``tracker/translations`` (``.po`` and compiled ``.mo``, both
committed; see ``babel.cfg`` and the README for the commands).

:class:`Words` turns the codes of a :class:`~tracker.tracking.view.PublicView` into
sentences and formats times in the customer's time zone and locale style
(``11月20日周五 14:05``, ``Fri, Nov 20, 14:05``).

A pure module: no Flask, no request. :func:`choose_locale` takes the
request's values as plain arguments (the Flask-Babel selector that reads
them is :func:`tracker.tracking.http.select_locale`), and :class:`Words`
reads its locale's catalog itself, with Babel, so it needs no request
context. The templates' ``_()`` reads the same catalogs for the same locale
(:func:`tracker.tracking.pages._template_gettext`, what Flask-Babel's would
answer, without its per-call catalog lookup).
"""

from __future__ import annotations

from datetime import date, datetime, time
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import DateTimePattern, format_interval, match_skeleton, parse_pattern
from babel.support import NullTranslations, Translations

from tracker.tracking.view import PublicEvent, PublicView

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
LOCALES = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"
COOKIE = "lang"
#: What each locale calls itself, for the switch, and its BCP 47 tag for ``lang=``.
NAMES = {"zh_CN": "中文", "en": "English"}
#: Parsed once: Flask-Babel takes these from the selector, and the catalogs' folders
#: are named after them (``zh_CN`` parses to ``zh_Hans_CN``).
LOCALE_OBJECTS = {code: Locale.parse(code) for code in LOCALES}
TAGS = {"zh_CN": "zh-CN", "en": "en"}


def _l(message: str) -> str:
    """Mark a message id for ``pybabel extract -k _l``; :class:`Words` translates it when used."""
    return message


def parse_locale(value: str | None) -> str | None:
    """``zh-CN``, ``zh_Hans``, ``ZH`` → ``zh_CN``; ``en-GB`` → ``en``; else None."""
    if not value:
        return None
    language = value.strip().replace("_", "-").split("-")[0].lower()
    return {"zh": "zh_CN", "en": "en"}.get(language)


def choose_locale(query: str | None, cookie: str | None, accept: list[tuple[str, float]]) -> str:
    """The rules of the module docstring, over plain values."""
    for candidate in (query, cookie):
        chosen = parse_locale(candidate)
        if chosen:
            return chosen
    for tag, quality in sorted(accept, key=lambda item: -item[1]):
        chosen = parse_locale(tag)
        if chosen and quality > 0:
            return chosen
    return DEFAULT_LOCALE


@cache
def catalog(locale: str) -> NullTranslations:
    """The compiled messages of one of :data:`LOCALES`, read once per process.

    The same files, looked up the same way, as Flask-Babel's ``gettext``
    (``default_translation_directories`` is :data:`TRANSLATIONS`).
    """
    return Translations.load(str(TRANSLATIONS), [LOCALE_OBJECTS[locale]])


@cache
def _pattern(locale: str, skeleton: str) -> DateTimePattern:
    """Babel's ``format_skeleton`` resolved once per locale (it parses the locale and matches
    the skeleton on every call: most of a page's formatting time, for its ~20 times)."""
    parsed = LOCALE_OBJECTS[locale]
    skeletons = parsed.datetime_skeletons
    if skeleton not in skeletons:
        skeleton = match_skeleton(skeleton, skeletons) or skeleton
    return parse_pattern(skeletons[skeleton])


# What babel.dates.format_skeleton answers for the two skeletons of Words.when, kept:
# "MMMEd" names a local day (it depends on the day alone), "Hm" a time of day.
@lru_cache(maxsize=4096)
def _day(locale: str, day: date) -> str:
    return _pattern(locale, "MMMEd").apply(day, LOCALE_OBJECTS[locale])


def _hours(locale: str, start: datetime, end: datetime, tz: ZoneInfo) -> str:
    """Babel's interval of hours (``09:00-11:00`` with its own dash), kept on one line.

    A phone's narrow column broke a window in two ("13:00 -" / "15:00"):
    Babel puts thin spaces (U+2009) around the English dash, and a line may
    break after a dash in any language (Unicode's line breaking, UAX #14). So
    the thin spaces become narrow no-break spaces (U+202F), which look the
    same, and a word joiner (U+2060, invisible) follows the dash.
    """
    hours = format_interval(start, end, "Hm", tzinfo=tz, locale=LOCALE_OBJECTS[locale])
    return hours.replace("\u2009", "\u202f").replace("\u2013", "\u2013\u2060")


@lru_cache(maxsize=len(LOCALES) * 24 * 60)
def _clock(locale: str, hour: int, minute: int) -> str:
    return _pattern(locale, "Hm").apply(time(hour, minute), LOCALE_OBJECTS[locale])


HEADLINES = {
    "info_received": _l("Order received, waiting for the parcel"),
    "in_transit": _l("On its way"),
    "out_for_delivery": _l("Out for delivery"),
    "failed_attempt": _l("We could not deliver it"),
    "ready_for_pickup": _l("Ready for pickup"),
    "delivered": _l("Delivered"),
    "collected": _l("Collected"),
    "exception": _l("There is a problem with your parcel"),
    "returned": _l("Returned to the sender"),
}
STEPS = {
    "received": _l("Order received"),
    "in_transit": _l("In transit"),
    "out_for_delivery": _l("Out for delivery"),
    "delivered": _l("Delivered"),
    "ready_for_pickup": _l("Ready for pickup"),
    "collected": _l("Collected"),
}
STEP_STATES = {
    "done": _l("done"),
    "current": _l("current step"),
    "problem": _l("needs attention"),
    "todo": _l("not yet"),
}
EVENTS = {
    "created": _l("Shipping label created"),
    "picked_up": _l("Picked up from the sender"),
    "outbound": _l("Left the warehouse"),
    "arrived": _l("Arrived at a facility"),
    "departed": _l("Left a facility"),
    "out_for_delivery": _l("Out for delivery"),
    "delivery_failed": _l("Delivery attempt failed"),
    "delivered": _l("Delivered"),
    "ready_for_pickup": _l("Ready for pickup"),
    "collected": _l("Collected at the pickup point"),
    "damaged": _l("Damage found on the parcel"),
    "exception": _l("Held up"),
    "returned": _l("Returned to the sender"),
}
REASONS = {
    "no_one_home": _l("no one was home"),
    "address_issue": _l("problem with the address"),
    "refused": _l("refused"),
    "held": _l("held"),
    "lost": _l("lost"),
    "customs": _l("held at customs"),
    "weather": _l("bad weather"),
    "damaged": _l("damaged"),
}
RELATIONS = {
    "self": _l("signed for by the recipient"),
    "family": _l("signed for by family"),
    "colleague": _l("signed for by a colleague"),
    "reception": _l("left at reception"),
    "locker": _l("left in a parcel locker"),
    "neighbour": _l("left with a neighbour"),
}
PARTS = {
    "morning": _l("in the morning"),
    "afternoon": _l("in the afternoon"),
    "evening": _l("in the evening"),
}
PLANS = {
    "keeps": _l("Today's route keeps your window: the courier is expected %(window)s."),
    "misses": _l(
        "Today's route does not keep your window: the courier is expected %(window)s. We are sorry."
    ),
    "not_planned": _l("Not on a courier's route yet."),
}
#: The same, for a route planned for another day than today (planned in the evening for tomorrow).
PLANS_ON_DAY = {
    "keeps": _l("The route for %(day)s keeps your window: the courier is expected %(window)s."),
    "misses": _l(
        "The route for %(day)s does not keep your window: the courier is expected %(window)s. We are sorry."
    ),
}
REPORTS = {
    "not_received": _l("Not received"),
    "damaged": _l("Damage"),
    "late": _l("Late"),
    "rating": _l("Rating"),
    "appointment": _l("Delivery window"),
    "complaint": _l("Complaint"),
}
#: What a complaint is about, as the form and the history say it.
COMPLAINT_KINDS = {
    "courier_conduct": _l("Courier's conduct"),
    "pickup_point_service": _l("Pickup point service"),
    "late": _l("Late"),
    "damaged": _l("Damage"),
    "not_received": _l("Not received"),
}
#: What became of a report: the state of its case.
CASE_STATES = {
    "open": _l("received, being handled"),
    "acknowledged": _l("being handled"),
    "resolved": _l("resolved"),
}
#: Zones whose customers call their time by another name than the zone's (zh-CN: 北京时间).
ZONE_SENTENCES = {"Asia/Shanghai": _l("Times are shown in Beijing time.")}


class Words:
    """Sentences and times for one request's locale and the service's time zone."""

    def __init__(self, locale: str, tz: ZoneInfo) -> None:
        self.locale = locale
        self.tz = tz
        self._catalog = catalog(locale)

    def gettext(self, message: str, **variables: Any) -> str:
        """Flask-Babel's ``gettext`` over this locale's catalog: translate, then fill ``%(name)s``."""
        text = self._catalog.gettext(message)
        return text % variables if variables else text

    @property
    def tag(self) -> str:
        return TAGS[self.locale]

    def headline(self, view: PublicView) -> str:
        return self.gettext(HEADLINES[view.headline])

    def step(self, key: str) -> str:
        return self.gettext(STEPS[key])

    def step_state(self, state: str) -> str:
        return self.gettext(STEP_STATES[state])

    def event(self, e: PublicEvent) -> str:
        _ = self.gettext  # named ``_`` so that pybabel extracts the messages below
        text = _(EVENTS[e.type.value])
        detail = REASONS.get(e.reason or "") or RELATIONS.get(e.relation or "")
        return _("%(event)s: %(detail)s", event=text, detail=_(detail)) if detail else text

    def when(self, moment: datetime | None) -> str:
        """A day and a time: ``11月20日周五 14:05`` or ``Fri, Nov 20, 14:05``."""
        if moment is None:
            return ""
        _ = self.gettext
        local = moment.astimezone(self.tz)
        return _(
            "%(date)s, %(time)s",
            date=_day(self.locale, local.date()),
            time=_clock(self.locale, local.hour, local.minute),
        )

    def window(self, start: datetime, end: datetime) -> str:
        """``11月20日周五 09:00-11:00`` (Babel's dash), or two full times when the window spans days."""
        _ = self.gettext
        if start.astimezone(self.tz).date() != end.astimezone(self.tz).date():
            return _("%(start)s – %(end)s", start=self.when(start), end=self.when(end))
        day = _day(self.locale, start.astimezone(self.tz).date())
        hours = _hours(self.locale, start, end, self.tz)
        return _("%(date)s, %(time)s", date=day, time=hours)

    def day(self, day: date) -> str:
        """``12月1日周二``, ``Tue, Dec 1``."""
        return _day(self.locale, day)

    def day_and_part(self, day: date, part: str | None) -> str:
        """``12月3日周四下午``, ``Thu, Dec 3, in the afternoon``: as the headline writes them."""
        if not part:
            return self.day(day)
        return self.gettext("%(day)s, %(part)s", day=self.day(day), part=self.gettext(PARTS[part]))

    def eta(self, view: PublicView) -> str:
        """The ETA in a sentence: a day (and part), a window, or the booked window."""
        eta = view.eta
        if eta is None:
            return ""
        _ = self.gettext
        if eta.kind == "day":
            if eta.part:
                return _("Expected on %(day)s, %(part)s.", day=self.day(eta.day), part=_(PARTS[eta.part]))
            return _("Expected on %(day)s.", day=self.day(eta.day))
        if eta.kind == "window":
            return _("Expected %(window)s.", window=self.window(eta.start, eta.end))
        return _("Your delivery window: %(window)s.", window=self.window(eta.start, eta.end))

    def plan(self, view: PublicView) -> str:
        """For a booked window: whether the courier's route (today's, or the named day's) keeps it."""
        eta = view.eta
        if eta is None or eta.plan is None:
            return ""
        _ = self.gettext
        if eta.planned is None:
            return _(PLANS[eta.plan])
        hours = _hours(self.locale, eta.planned[0], eta.planned[1], self.tz)
        if eta.route_day is not None:
            return _(PLANS_ON_DAY[eta.plan], day=self.day(eta.route_day), window=hours)
        return _(PLANS[eta.plan], window=hours)

    def delay(self, view: PublicView) -> str:
        """The plain notice that the promise may be (or is) missed, with the day now expected."""
        notice = view.delay
        if notice is None:
            return ""
        _ = self.gettext
        if notice.because == "late":
            first = _("Your parcel is later than we promised. We are sorry, and we are on it.")
        else:
            first = _("Your parcel may arrive later than we promised.")
        if notice.expected is None:
            return _("%(first)s We will tell you the new day as soon as it moves.", first=first)
        return _("%(first)s It is now expected on %(day)s.", first=first, day=self.day(notice.expected))

    def report(self, kind: str) -> str:
        return self.gettext(REPORTS[kind])

    def complaint(self, about: str) -> str:
        return self.gettext(COMPLAINT_KINDS[about])

    def case_state(self, state: str) -> str:
        return self.gettext(CASE_STATES[state])

    def zone(self) -> str:
        """What the footer calls the time zone: ``北京时间`` in Chinese for Asia/Shanghai, else its name."""
        _ = self.gettext
        sentence = ZONE_SENTENCES.get(self.tz.key)
        return _(sentence) if sentence else _("Times are shown in %(zone)s time.", zone=self.tz.key)

    def iso(self, moment: datetime) -> str:
        """For ``<time datetime=...>``: RFC 3339 in the customer's zone."""
        return moment.astimezone(self.tz).isoformat()
