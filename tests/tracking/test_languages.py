"""zh-CN and en: ?lang=, then the switch's cookie, then Accept-Language; catalogs complete."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from tracker.tracking import i18n

ROOT = Path(__file__).resolve().parents[2]
CATALOGS = ROOT / "tracker" / "translations"


@pytest.mark.parametrize(
    ("query", "cookie", "accept", "expected"),
    [
        ("en", "zh_CN", [("zh-CN", 1.0)], "en"),
        (None, "en", [("zh-CN", 1.0)], "en"),
        (None, None, [("en-GB", 1.0), ("zh", 0.5)], "en"),
        (None, None, [("fr", 1.0), ("zh-TW", 0.8), ("en", 0.5)], "zh_CN"),
        (None, None, [("en", 0.4), ("zh-Hans", 0.9)], "zh_CN"),
        (None, None, [], "zh_CN"),
        ("klingon", "nonsense", [("en-US", 1.0)], "en"),
    ],
)
def test_it_chooses_the_language_by_query_then_cookie_then_browser(
    query: str | None, cookie: str | None, accept: list[tuple[str, float]], expected: str
) -> None:
    assert i18n.choose_locale(query, cookie, accept) == expected


def _lang(page: Any) -> str:
    html = page.get_data(as_text=True)
    return html.split('<html lang="', 1)[1].split('"', 1)[0]


def test_it_serves_the_page_in_the_browsers_language_until_the_switch_is_used(
    parcels: Any, client: Any
) -> None:
    tn = parcels.make("in_transit")
    english = {"Accept-Language": "en-US,en;q=0.9"}
    first = client.get(f"/track/{tn}", headers=english)
    assert _lang(first) == "en" and "On its way" in first.get_data(as_text=True)
    assert first.headers["Content-Language"] == "en"

    switch = client.get(f"/track/language/zh-CN?next=/track/{tn}", headers=english)
    assert switch.status_code == 303 and switch.headers["Location"] == f"/track/{tn}"
    assert "lang=zh_CN" in switch.headers["Set-Cookie"]

    after = client.get(f"/track/{tn}", headers=english)
    assert _lang(after) == "zh-CN" and "运输中" in after.get_data(as_text=True)
    # An explicit ?lang= still wins over the cookie, for that request only.
    assert _lang(client.get(f"/track/{tn}?lang=en", headers=english)) == "en"
    assert _lang(client.get(f"/track/{tn}", headers=english)) == "zh-CN"


def test_it_links_the_switch_back_to_the_same_page_without_the_lang_parameter(
    parcels: Any, client: Any
) -> None:
    tn = parcels.make("in_transit")
    html = client.get(f"/track/{tn}?lang=en&thanks=late").get_data(as_text=True)
    assert f'href="/track/language/zh-CN?next=/track/{tn}?thanks%3Dlate"' in html
    assert 'lang="zh-CN" hreflang="zh-CN"' in html
    assert '<span lang="en" aria-current="true">English</span>' in html


def test_it_never_redirects_the_switch_off_the_tracking_pages(client: Any) -> None:
    for target in ("https://evil.example/", "//evil.example/track", "/docs", "/track\\@evil"):
        answer = client.get("/track/language/en", query_string={"next": target})
        assert answer.headers["Location"] == "/track"


def test_it_formats_times_for_the_locale_in_the_customers_time_zone(parcels: Any, client: Any) -> None:
    tn = parcels.make("delivered")  # delivered at 2026-11-20 09:40 Shanghai time
    chinese = client.get(f"/track/{tn}?lang=zh-CN").get_data(as_text=True)
    english = client.get(f"/track/{tn}?lang=en").get_data(as_text=True)
    assert "11月20日周五 09:40" in chinese and "已签收：本人签收" in chinese
    assert "Fri, Nov 20, 09:40" in english and "Delivered: signed for by the recipient" in english
    data = client.get(f"/api/v1/track/{tn}?lang=en").json
    assert data["events"][0]["at"] == "2026-11-20T09:40:00+08:00"
    assert data["events"][0]["text"] == "Delivered: signed for by the recipient"


def test_it_answers_json_in_the_chosen_language_and_says_which(parcels: Any, client: Any) -> None:
    tn = parcels.make("out_for_delivery")
    zh = client.get(f"/api/v1/track/{tn}", headers={"Accept-Language": "zh-CN"})
    en = client.get(f"/api/v1/track/{tn}", headers={"Accept-Language": "en"})
    assert zh.json["headline"] == {"code": "out_for_delivery", "text": "派送中"}
    assert en.json["headline"] == {"code": "out_for_delivery", "text": "Out for delivery"}
    assert zh.headers["Content-Language"] == "zh-CN" and en.headers["Content-Language"] == "en"
    assert "Accept-Language" in en.headers["Vary"]


def test_it_has_a_chinese_translation_for_every_message_in_the_code_and_templates() -> None:
    method_map = [("tracker/**.py", "python"), ("tracker/templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None}
    ids = {
        message[2] if isinstance(message[2], str) else message[2][0]
        for message in extract_from_dir(str(ROOT), method_map, keywords=keywords)
    }
    assert len(ids) > 100
    with (CATALOGS / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        catalog = read_po(f)
    translated = {m.id: m.string for m in catalog if m.id}
    assert sorted(ids - translated.keys()) == []
    assert [m for m, s in translated.items() if not s] == []
    assert not catalog.fuzzy


@pytest.mark.parametrize("locale", ["zh_Hans_CN", "en"])
def test_it_ships_compiled_catalogs_that_match_their_sources(locale: str) -> None:
    folder = CATALOGS / locale / "LC_MESSAGES"
    with (folder / "messages.po").open("rb") as f:
        source = {m.id: m.string for m in read_po(f) if m.id and m.string}
    with (folder / "messages.mo").open("rb") as f:
        compiled = {m.id: m.string for m in read_mo(f) if m.id}
    assert compiled == source


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_a_window_s_hours_stay_on_one_line(locale: str) -> None:
    # A phone's narrow column broke a booked window in two ("13:00 –" / "15:00").
    words = i18n.Words(locale, ZoneInfo("Asia/Shanghai"))
    text = words.window(datetime(2026, 11, 20, 5, tzinfo=UTC), datetime(2026, 11, 20, 7, tzinfo=UTC))
    hours = text[text.index("13:00") :]
    assert hours.startswith("13:00") and hours.rstrip(".").endswith("15:00")
    assert not any(ch.isspace() and ch not in "\u00a0\u202f" for ch in hours), repr(hours)
    # A line may break after a dash (UAX #14) unless something glues it to what follows.
    assert hours.count("\u2013") == hours.count("\u2013\u2060") == 1, repr(hours)
