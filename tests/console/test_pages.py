"""Every console page in both languages, over a station's real day (scans, a stored plan, a case)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from jinja2.runtime import Context, Macro
from sqlalchemy import Engine, select

from tests.conftest import T0, FakeClock, Personas
from tests.console.conftest import Console, add_case, add_parcel
from tests.helpers import at
from tests.routing.service.conftest import STATION, Yard
from tracker.console import labels
from tracker.core.cycles import left_in_cycles
from tracker.core.models import Case, Parcel, StationPlan
from tracker.core.vocabulary import CaseType


@pytest.fixture
def day(personas: Personas, engine: Engine, clock: FakeClock, network: Any) -> dict[str, Any]:
    station = network.by_code()[STATION]
    yard = Yard(personas, clock, station.lat, station.lon)
    for i, km in enumerate((1.0, 2.0, 3.0)):
        yard.bring(f"TRK07000000{i}", km_east=km, km_north=i * 0.5)
    yard.plan(personas.ops)
    case_id = add_case(engine, clock, "TRK070000000", CaseType.SUSPECTED_FAKE_DELIVERY, courier="C-SH011")
    with engine.connect() as conn:
        plan_id = conn.scalar(select(StationPlan.id))
    return {"plan_id": plan_id, "case_id": case_id, "tn": "TRK070000000"}


PAGES = {
    "queue": ("/ops/cases", {"zh-CN": "工单", "en": "Cases"}),
    "case": ("/ops/cases/{case_id}", {"zh-CN": "疑似虚假签收", "en": "Suspected fake delivery"}),
    "search": ("/ops/parcels?q=1234", {"zh-CN": "找到的包裹", "en": "Parcels found"}),
    "parcel": ("/ops/parcels/{tn}", {"zh-CN": "扫描记录", "en": "Scans"}),
    "scorecards": ("/ops/scorecards", {"zh-CN": "快递员", "en": "Couriers"}),
    "courier": ("/ops/couriers/C-SH011", {"zh-CN": "准时", "en": "On time"}),
    "facility": ("/ops/facilities/ST-SH-01", {"zh-CN": "准时", "en": "On time"}),
    "hotspots": ("/ops/hotspots", {"zh-CN": "破损热点", "en": "Damage hotspots"}),
    "plans": ("/ops/plans", {"zh-CN": "路线计划", "en": "Route plans"}),
    "plan": ("/ops/plans/{plan_id}", {"zh-CN": "地图", "en": "Map"}),
    "keys": ("/ops/keys", {"zh-CN": "API 密钥", "en": "API keys"}),
}


def _in(lang: str, url: str) -> str:
    return url + ("&" if "?" in url else "?") + f"lang={lang}"


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_every_page_renders_in_each_language(ops: Console, day: dict[str, Any], lang: str) -> None:
    # One day for every page of a language: a station plan is a solve.
    for name, (path, words) in sorted(PAGES.items()):
        answer = ops.get(_in(lang, path.format(**day)))
        assert answer.status_code == 200, (name, answer.get_data(as_text=True)[:2000])
        html = answer.get_data(as_text=True)
        assert f'<html lang="{lang}">' in html, name
        assert words[lang] in html, name
        assert answer.headers["Content-Language"] == lang, name
        # The language rides along on the page's links and forms.
        assert f"lang={lang}" in html, name


def test_the_language_switch_sets_the_cookie_and_stays_on_the_console(ops: Console) -> None:
    answer = ops.get("/ops/language/en?next=/ops/keys")
    assert answer.status_code == 303 and answer.headers["Location"] == "/ops/keys"
    assert '<html lang="en">' in ops.get("/ops/keys").get_data(as_text=True)
    assert ops.get("/ops/language/zh-CN?next=https://evil.example/").headers["Location"] == "/ops/cases"
    assert '<html lang="zh-CN">' in ops.get("/ops/keys").get_data(as_text=True)


def test_the_parcel_page_shows_the_unmasked_recipient_the_stop_and_the_cases(
    ops: Console, day: dict[str, Any]
) -> None:
    html = ops.get(f"/ops/parcels/{day['tn']}?lang=en").get_data(as_text=True)
    assert "13800001234" in html and "张三丰" in html  # ops sees what the label says
    assert f"/ops/plans/{day['plan_id']}" in html
    assert f"/ops/cases/{day['case_id']}" in html
    assert "stop 1 of courier" in html or "stop 2 of courier" in html or "stop 3 of courier" in html


def test_the_parcel_page_names_the_service_level_in_the_reader_s_language(
    ops: Console, day: dict[str, Any], engine: Engine
) -> None:
    with engine.connect() as conn:
        level = conn.scalar(select(Parcel.service_level).where(Parcel.tracking_number == day["tn"]))
    en = ops.get(f"/ops/parcels/{day['tn']}?lang=en").get_data(as_text=True)
    zh = ops.get(f"/ops/parcels/{day['tn']}?lang=zh-CN").get_data(as_text=True)
    assert f"<dt>Service level</dt><dd>{labels.SERVICE_LEVELS[level]}</dd>" in en
    # Not the code (``standard``) nor the English name: Chinese words.
    assert re.search(r"<dt>服务等级</dt><dd>[^<A-Za-z]+</dd>", zh), level


def test_it_finds_parcels_by_phone_suffix_and_goes_straight_to_a_tracking_number(
    ops: Console, day: dict[str, Any]
) -> None:
    found = ops.get("/ops/parcels?q=1234&lang=en").get_data(as_text=True)
    assert all(f"TRK07000000{i}" in found for i in range(3))
    assert "No parcel found." in ops.get("/ops/parcels?q=9999&lang=en").get_data(as_text=True)
    direct = ops.get(f"/ops/parcels?q={day['tn']}&lang=en")
    assert direct.status_code == 303 and direct.headers["Location"] == f"/ops/parcels/{day['tn']}?lang=en"
    assert ops.get("/ops/parcels?q=12&lang=en").status_code == 400
    assert ops.get("/ops/parcels/TRK-NOPE-000").status_code == 404


def test_the_plan_page_carries_each_courier_s_stops_in_order_for_the_map(
    ops: Console, day: dict[str, Any]
) -> None:
    html = ops.get(f"/ops/plans/{day['plan_id']}?lang=en").get_data(as_text=True)
    data = json.loads(
        re.search(r'<script type="application/json" id="plan-data">(.*?)</script>', html, re.S).group(1)
    )
    assert data["station"]["code"] == STATION
    stops = [s for r in data["routes"] for s in r["stops"]]
    assert sorted(s["tracking_number"] for s in stops) == [f"TRK07000000{i}" for i in range(3)]
    for route in data["routes"]:
        assert [s["sequence"] for s in route["stops"]] == list(range(1, len(route["stops"]) + 1))
    assert data["tiles"].startswith("https://tile.openstreetmap.org/")
    assert '<script src="/static/vendor/leaflet/leaflet.js">' in html
    assert ops.get("/ops/plans/999999").status_code == 404


def test_the_plan_page_says_when_a_courier_waits_at_a_door_for_a_booked_window(
    ops: Console, personas: Personas, network: Any, clock: FakeClock, engine: Engine
) -> None:
    station = network.by_code()[STATION]
    yard = Yard(personas, clock, station.lat, station.lon)
    booked = {"start": at(T0, 5 * 60), "end": at(T0, 7 * 60)}  # 17:00-19:00
    yard.bring("TRK071000000", km_east=1.0)
    yard.bring("TRK071000001", km_east=1.2, appointment=booked)
    yard.plan(personas.ops)
    with engine.connect() as conn:
        plan_id = conn.scalar(select(StationPlan.id))
    html = ops.get(f"/ops/plans/{plan_id}?lang=en").get_data(as_text=True)
    row = html.split("TRK071000001</a>")[1].split("</tr>")[0]
    # At the door at 17:00, the booking's start; there before that, and waiting.
    assert "17:00" in row and "and waits" in row, row
    other = html.split("TRK071000000</a>")[1].split("</tr>")[0]
    assert "waits" not in other, other


def test_a_case_s_reasons_are_named_in_the_reader_s_language(
    ops: Console, engine: Engine, clock: FakeClock
) -> None:
    from tracker.cases.reasons import Reason
    from tracker.cases.store import open_case
    from tracker.core.db import write_transaction

    parcel_id = add_parcel(engine, clock, "TRK072000000")
    detail = "ETA 2026-12-02T17:00:00+08:00 ends after the promise 2026-12-02T12:00:00+08:00"
    with write_transaction(engine) as conn:
        case_id, _ = open_case(
            conn, parcel_id, CaseType.AT_RISK, [Reason("eta_after_promise", detail)], now=clock()
        )
    zh = ops.get(f"/ops/cases/{case_id}?lang=zh-CN").get_data(as_text=True)
    assert '<strong title="eta_after_promise">预计晚于承诺时间</strong>' in zh
    en = ops.get(f"/ops/cases/{case_id}?lang=en").get_data(as_text=True)
    assert "Expected after the promise</strong>: ETA 2026-12-02T17:00:00+08:00" in en


def test_it_reaches_no_page_before_signing_in(console: Console, day: dict[str, Any]) -> None:
    for path, _ in PAGES.values():
        answer = console.get(path.format(**day))
        assert answer.status_code == 303 and answer.headers["Location"].startswith("/ops/login?next=")


@pytest.mark.parametrize("too_long", [2**63, 10**20])
def test_an_id_past_what_the_database_holds_is_a_page_not_found(admin: Console, too_long: int) -> None:
    # Each id one past a 64-bit integer: the database refuses to compare it (was a 500 in JSON).
    admin.get("/ops/keys?lang=en")  # a page with a form: its CSRF token
    for answer in (
        admin.get(f"/ops/cases/{too_long}?lang=en"),
        admin.get(f"/ops/plans/{too_long}?lang=en"),
        admin.post(f"/ops/cases/{too_long}/acknowledge?lang=en"),
        admin.post(f"/ops/keys/{too_long}/revoke?lang=en"),
    ):
        assert answer.status_code == 404
        assert answer.mimetype == "text/html"
    assert admin.get(f"/ops/cases/{2**63 - 1}?lang=en").status_code == 404  # the largest id: a lookup


def test_the_case_page_lists_only_active_users_to_assign(
    ops: Console, day: dict[str, Any], engine: Engine, clock: FakeClock
) -> None:
    from tracker.console.users import disable_user
    from tracker.core.db import write_transaction

    with write_transaction(engine) as conn:
        disable_user(conn, "zhao.left", now=clock())
    html = ops.get(f"/ops/cases/{day['case_id']}?lang=en").get_data(as_text=True)
    assert 'value="wang.admin"' in html and 'value="zhao.left"' not in html
    refused = ops.post(f"/ops/cases/{day['case_id']}/assign", {"assignee": "zhao.left"})
    assert refused.status_code == 422
    with engine.connect() as conn:
        assert conn.scalar(select(Case.assignee).where(Case.id == day["case_id"])) is None


def test_no_page_leaves_its_render_in_a_reference_cycle(ops: Console, day: dict[str, Any]) -> None:
    # Macros defined in a page are made on every render and close a cycle with
    # its context; the collector then pauses the worker to free each page (see
    # tests/tracking/test_garbage.py). Imported ones are made once.
    for name, (path, _) in sorted(PAGES.items()):
        with left_in_cycles() as found:
            assert ops.get(_in("en", path.format(**day))).status_code == 200
        assert not [o for o in found if isinstance(o, Context | Macro)], name
