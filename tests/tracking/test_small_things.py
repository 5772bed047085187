"""The small things: the chosen language survives every form, 北京时间, how many tries are left."""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo

from tests.tracking.conftest import CODE, WRONG

ENGLISH_BROWSER = {"Accept-Language": "en-US,en;q=0.9"}


def _lang(html: str) -> str:
    return html.split('<html lang="', 1)[1].split('"', 1)[0]


def _token(html: str) -> str:
    match = re.search(r'name="token" value="([0-9a-f]+)"', html)
    assert match, "no form token on the page"
    return match.group(1)


def test_the_chosen_language_is_kept_through_verifying_and_every_form(parcels: Any, client: Any) -> None:
    tn = parcels.make("delivered")
    page = client.get(f"/track/{tn}?lang=zh-CN", headers=ENGLISH_BROWSER).get_data(as_text=True)
    assert f'action="/track/{tn}/verify?lang=zh-CN"' in page

    verified = client.post(f"/track/{tn}/verify?lang=zh-CN", data={"code": CODE}, headers=ENGLISH_BROWSER)
    assert verified.status_code == 303 and "lang=zh-CN" in verified.headers["Location"]
    page = client.get(verified.headers["Location"], headers=ENGLISH_BROWSER).get_data(as_text=True)
    assert _lang(page) == "zh-CN"
    # Every form of the verified page posts back in the chosen language ...
    actions = re.findall(r'<form method="post" action="([^"]+)"', page)
    assert actions and all(a.endswith("?lang=zh-CN") for a in actions), actions
    # ... and what it answers (the thank-you page after a rating) comes back in it too.
    form = {"kind": "rating", "packaging": "5", "courier": "5", "speed": "4", "token": _token(page)}
    rated = client.post(f"/track/{tn}/feedback?lang=zh-CN", data=form, headers=ENGLISH_BROWSER)
    assert rated.status_code == 303 and "lang=zh-CN" in rated.headers["Location"]
    thanks = client.get(rated.headers["Location"], headers=ENGLISH_BROWSER).get_data(as_text=True)
    assert _lang(thanks) == "zh-CN"


def test_a_wrong_code_in_the_chosen_language_offers_the_next_try_in_it(parcels: Any, client: Any) -> None:
    tn = parcels.make("in_transit")

    wrong = client.post(f"/track/{tn}/verify?lang=zh-CN", data={"code": WRONG}, headers=ENGLISH_BROWSER)

    html = wrong.get_data(as_text=True)
    assert wrong.status_code == 403 and _lang(html) == "zh-CN"
    assert f'action="/track/{tn}/verify?lang=zh-CN"' in html


def test_the_chinese_footer_says_beijing_time(parcels: Any, client: Any, app_with: Any) -> None:
    tn = parcels.make("in_transit")

    chinese = client.get(f"/track/{tn}?lang=zh-CN").get_data(as_text=True)
    english = client.get(f"/track/{tn}?lang=en").get_data(as_text=True)
    berlin = app_with(timezone=ZoneInfo("Europe/Berlin")).test_client()

    assert "时间均为北京时间。" in chinese and "Asia/Shanghai" not in chinese
    assert "Times are shown in Beijing time." in english
    assert "Europe/Berlin" in berlin.get(f"/track/{tn}?lang=zh-CN").get_data(as_text=True)


def test_a_wrong_code_says_how_many_tries_are_left(parcels: Any, client: Any) -> None:
    tn = parcels.make("in_transit")

    first = client.post(f"/track/{tn}/verify?lang=en", data={"code": WRONG}).get_data(as_text=True)
    second = client.post(f"/track/{tn}/verify?lang=zh-CN", data={"code": WRONG}).get_data(as_text=True)
    json = client.get(f"/api/v1/track/{tn}", headers={"X-Verification": WRONG})

    assert "4 more wrong tries lock verification for an hour." in first
    assert "再输错 3 次，验证将锁定一小时。" in second
    assert json.status_code == 403 and "2 tries left" in json.json["error"]["message"]
