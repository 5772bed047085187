"""Public answers never show the recipient's full name, phone or street."""

from __future__ import annotations

from typing import Any

import pytest

from tests.tracking.conftest import CODE, NAME, PHONE, STATUSES, STREET
from tracker.tracking import masking

SECRETS = (NAME, PHONE, PHONE[-7:], "南京东路100号", STREET, "5栋1202室")


def test_it_masks_a_name_keeping_first_and_last_character_only() -> None:
    assert masking.mask_name("张三丰") == "张*丰"
    assert masking.mask_name("欧阳娜娜") == "欧*娜"  # one star: the length is not shown
    assert masking.mask_name("张三") == "张*"
    assert masking.mask_name("王") == "*"
    assert masking.mask_name(None) is None


def test_it_never_shows_the_verification_digits_in_a_public_phone_mask() -> None:
    public = masking.mask_phone("13800001234")
    assert public == "138********"
    assert masking.last_four("13800001234") not in public
    assert masking.mask_phone("+86 138-0000-1234", verified=True) == "861******1234"
    assert masking.mask_phone("13800001234", verified=True) == "138****1234"
    assert masking.mask_phone("12345") == "*****"


def test_it_checks_a_code_against_the_last_four_digits_only() -> None:
    assert masking.code_matches("138 0000 1234", "1234")
    assert not masking.code_matches("13800001234", "4321")
    assert not masking.code_matches(None, "0000")
    assert not masking.code_matches("", "\x00\x00\x00\x00")


def _leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


@pytest.mark.parametrize("status", STATUSES)
def test_it_shows_no_full_name_phone_or_street_in_any_public_answer(
    status: str, parcels: Any, client: Any
) -> None:
    tn = parcels.make(status)
    for lang in ("zh-CN", "en"):
        page = client.get(f"/track/{tn}?lang={lang}")
        data = client.get(f"/api/v1/track/{tn}?lang={lang}")
        assert page.status_code == 200 and data.status_code == 200
        assert _leaks(page.get_data(as_text=True)) == []
        assert _leaks(data.get_data(as_text=True)) == []
        assert data.json["recipient"] == {"name": "张*丰", "phone": "138********"}
        assert data.json["destination"] == {"area": "上海 黄浦区", "address": None}


def test_it_shows_the_street_address_after_verification_but_never_the_full_phone(
    parcels: Any, client: Any
) -> None:
    tn = parcels.make("delivered")
    data = client.get(f"/api/v1/track/{tn}", headers={"X-Verification": CODE})
    assert data.status_code == 200
    assert data.json["verified"] is True
    assert data.json["destination"]["address"] == STREET
    assert data.json["recipient"]["phone"] == "138****1234"
    assert PHONE not in data.get_data(as_text=True) and NAME not in data.get_data(as_text=True)
    assert data.headers["Cache-Control"] == "private, no-store"


def test_it_shows_the_street_address_on_the_page_once_verified(parcels: Any, client: Any) -> None:
    tn = parcels.make("in_transit")
    assert STREET not in client.get(f"/track/{tn}").get_data(as_text=True)
    answer = client.post(f"/track/{tn}/verify", data={"code": CODE})
    assert answer.status_code == 303
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/track" in cookie
    page = client.get(f"/track/{tn}")
    assert STREET in page.get_data(as_text=True)
    assert PHONE not in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "private, no-store"


def test_it_does_not_show_the_courier_or_the_scan_coordinates(parcels: Any, client: Any) -> None:
    tn = parcels.make("delivered")
    text = client.get(f"/api/v1/track/{tn}").get_data(as_text=True) + client.get(f"/track/{tn}").get_data(
        as_text=True
    )
    assert "C-SH011" not in text
    assert "121.45" not in text and "31.2," not in text
