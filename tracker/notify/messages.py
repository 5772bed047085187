"""Customer messages (pure): which notifications reach the recipient, in which words, and when.

Four moments are worth a message to the person waiting for a parcel:

=====================  ====================================================
message                sent on
=====================  ====================================================
``out_for_delivery``   ``parcel.status_changed`` to ``out_for_delivery``, with the window
``ready_for_pickup``   ``parcel.status_changed`` to ``available_for_pickup``, with the
                       pickup point and its pickup code when the parcel has one
``delayed``            ``parcel.delayed``, with the new day when the ETA starts after the promise
``complaint_answered`` ``case.answered``, with ops' answer
=====================  ====================================================

Templates are here, in zh-CN and en, rather than in the web's gettext
catalogues: the dispatcher renders them outside any request, and a message's
words are few and fixed. A parcel's language is its ``recipient_language``
(``zh-CN`` when unset). SMS keeps quiet at night, local time
(``TRACKER_SMS_QUIET_HOURS``): a message due then waits for the morning.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from typing import Any

LANGUAGES = ("zh-CN", "en")

_TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    "out_for_delivery": {
        "zh-CN": ("包裹正在派送", "您的包裹 {tracking_number} 正在派送中，预计 {window} 送达。"),
        "en": (
            "Your parcel is out for delivery",
            "Your parcel {tracking_number} is out for delivery, expected {window}.",
        ),
    },
    "ready_for_pickup": {
        "zh-CN": ("包裹待取件", "您的包裹 {tracking_number} 已到 {point}{code_part}，请及时取件。"),
        "en": (
            "Your parcel is ready for pickup",
            "Your parcel {tracking_number} is ready for pickup at {point}{code_part}.",
        ),
    },
    "delayed": {
        "zh-CN": ("包裹可能延误", "抱歉，您的包裹 {tracking_number} 可能延误，预计 {day} 送达。"),
        "en": (
            "Your parcel is running late",
            "Sorry: your parcel {tracking_number} is running late; we now expect it on {day}.",
        ),
    },
    "complaint_answered": {
        "zh-CN": ("您的反馈已回复", "关于包裹 {tracking_number} 的反馈，我们的回复：{answer}"),
        "en": ("We answered your report", "About your parcel {tracking_number}, our answer: {answer}"),
    },
}
_CODE_PART = {"zh-CN": "，取件码 {code}", "en": ", pickup code {code}"}
#: ``delayed`` without a new day to name (see the dispatcher's ``_new_day``), worded as the tracking
#: page says it of a parcel at risk whose estimate still fits the promise ("expect it on soon" was
#: no sentence).
_DELAYED_NO_DAY = {
    "zh-CN": "抱歉，您的包裹 {tracking_number} 可能晚于承诺时间送达。",
    "en": "Sorry: your parcel {tracking_number} may arrive later than we promised.",
}


@dataclass(frozen=True)
class Message:
    moment: str
    language: str
    subject: str
    text: str


def moment_of(kind: str, data: dict[str, Any]) -> str | None:
    """Which customer message a notification is, if any."""
    if kind == "parcel.status_changed":
        return {"out_for_delivery": "out_for_delivery", "available_for_pickup": "ready_for_pickup"}.get(
            data.get("status", "")
        )
    return {"parcel.delayed": "delayed", "case.answered": "complaint_answered"}.get(kind)


def language_of(value: str | None) -> str:
    if value and value.lower().startswith("en"):
        return "en"
    return "zh-CN"


def _day(at: datetime, language: str) -> str:
    return f"{at.month}月{at.day}日" if language == "zh-CN" else at.strftime("%-d %b")


def _window(start: datetime | None, end: datetime | None, language: str, zone: tzinfo) -> str:
    if end is None:
        return "今天" if language == "zh-CN" else "today"
    end = end.astimezone(zone)
    start = (start or end).astimezone(zone)
    return f"{_day(start, language)} {start:%H:%M}–{end:%H:%M}"


def render(
    moment: str,
    language: str,
    *,
    tracking_number: str,
    zone: tzinfo,
    window: tuple[Any, Any] = (None, None),
    day: datetime | None = None,
    point: str | None = None,
    code: str | None = None,
    answer: str | None = None,
) -> Message:
    language = language_of(language)
    subject, text = _TEMPLATES[moment][language]
    if moment == "delayed" and day is None:
        text = _DELAYED_NO_DAY[language]
    values = {
        "tracking_number": tracking_number,
        "window": _window(window[0], window[1], language, zone),
        "day": _day(day.astimezone(zone), language) if day else "",
        "point": point or ("自提点" if language == "zh-CN" else "the pickup point"),
        "code_part": _CODE_PART[language].format(code=code) if code else "",
        "answer": answer or "",
    }
    return Message(moment, language, subject, text.format(**values))


def quiet_until(at: datetime, zone: tzinfo, hours: tuple[int, int] | None) -> datetime | None:
    """The end of the quiet hours ``at`` falls in (local time), or None outside them."""
    if hours is None:
        return None
    start, end = hours
    local = at.astimezone(zone)
    h = local.hour
    inside = (start <= h or h < end) if start > end else (start <= h < end)
    if not inside:
        return None
    day = local.date() if h < end else local.date() + timedelta(days=1)
    return datetime.combine(day, time(end), tzinfo=zone)
