"""The ops console in a real browser (Debian's Chromium) against a real ``tracker serve``.

A simulated day goes into a fresh SQLite file; an ops user is created with
``tracker users create --password-stdin``; two suspected fake deliveries
are opened and one station's next day is planned. Playwright then drives
Chromium through the console at phone width (390x844) and at desktop width:
sign in, work a case from the queue to resolved, answer a customer's
complaint (filed through the public tracking API) and see the customer read
the answer, find a parcel by the last four digits of its phone, open a station plan and count the routes Leaflet
drew (the map tiles point at a closed port: the routes must not need them),
list the API keys; then every page once more in English. axe-core (``tests/vendor/axe-core``) runs inside every
page and any violation fails the test; so does any Content-Security-Policy
report in the browser's console. Screenshots go to
``test-artifacts/screenshots/console/`` (printed in the output).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from tests.live import CHROMIUM, LiveServer, png_rows
from tests.tracking.live import fill_database
from tracker.cases.reasons import Reason
from tracker.cases.store import open_case
from tracker.core.db import make_engine, write_transaction
from tracker.core.models import Case, CaseEvent, Facility, Parcel, ScanEvent
from tracker.core.vocabulary import CaseState, CaseType, FacilityKind, ParcelStatus, Role
from tracker.keys.store import create_key
from tracker.merchants.store import create_merchant
from tracker.routing import service, store
from tracker.routing.planning import PlanOptions

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots" / "console"
AXE = ROOT / "tests" / "vendor" / "axe-core" / "axe.min.js"
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}
PASSWORD = "a long console password"
ZONE = "Asia/Shanghai"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}"),
]


@dataclass
class Site:
    server: LiveServer
    database: Path
    #: One open suspected fake delivery per viewport: (case id, tracking number).
    fakes: dict[str, tuple[int, str]]
    #: One delivered parcel per viewport for a customer to complain about: (tracking number, phone).
    complainers: dict[str, tuple[str, str]]
    phone_suffix: str
    phone_parcel: str
    plan_id: int
    routes: int
    stops: int


def _tracker(database: Path, instance: Path, *args: str, stdin: str = "") -> str:
    env = {"TRACKER_DATABASE_URL": f"sqlite:///{database}", "TRACKER_INSTANCE_PATH": str(instance),
           "PATH": "/usr/bin:/bin"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "tracker.cli", *args], input=stdin, capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _prepare(database: Path) -> dict[str, Any]:
    """Two fake-delivery cases, a phone to search for, and tomorrow's plan of the busiest station."""
    from zoneinfo import ZoneInfo

    engine = make_engine(f"sqlite:///{database}")
    now = datetime.now(UTC)
    try:
        with engine.connect() as conn:
            # Delivered by a courier (a complaint about one needs one), with a phone to verify by.
            by_courier = select(ScanEvent.parcel_id).where(
                ScanEvent.type == "delivered", ScanEvent.courier_code.is_not(None)
            )
            delivered = conn.execute(
                select(Parcel.id, Parcel.tracking_number, Parcel.recipient_phone)
                .where(
                    Parcel.status == ParcelStatus.DELIVERED,
                    Parcel.recipient_phone.is_not(None),
                    Parcel.id.in_(by_courier),
                )
                .order_by(Parcel.tracking_number)
                .limit(2 * len(VIEWPORTS))
            ).all()
            assert len(delivered) == 2 * len(VIEWPORTS), delivered
            stations = list(
                conn.scalars(select(Facility.code).where(Facility.kind == FacilityKind.DELIVERY_STATION))
            )
            busiest = max(stations, key=lambda code: len(store.due_parcels(conn, code)))
        fakes = {}
        with write_transaction(engine) as conn:
            create_merchant(conn, "SHOP-A", "Shop A", now=now)
            create_key(conn, Role.MERCHANT, now=now, merchant="SHOP-A", label="shop integration")
            for viewport, parcel in zip(VIEWPORTS, delivered):
                courier = conn.scalar(
                    select(ScanEvent.courier_code).where(
                        ScanEvent.parcel_id == parcel.id, ScanEvent.type == "delivered"
                    )
                )
                reasons = [
                    Reason("gps_far_from_address", "the delivered scan's fix is 3.2 km from the address"),
                    Reason("no_proof_of_delivery", "no signature, no photo and no one-time code"),
                ]
                case_id, _ = open_case(
                    conn,
                    parcel.id,
                    CaseType.SUSPECTED_FAKE_DELIVERY,
                    reasons,
                    now=now,
                    score=1.4,
                    courier=courier,
                )
                fakes[viewport] = (case_id, parcel.tracking_number)
        zone = ZoneInfo(ZONE)
        tomorrow = now.astimezone(zone).date() + timedelta(days=1)
        plan = service.plan_station(
            engine, busiest, PlanOptions(day=tomorrow, time_limit=timedelta(seconds=2)),
            now=now, zone=zone, requested_by="test",
        )  # fmt: skip
        with engine.connect() as conn:
            phone_parcel, phone = conn.execute(
                select(Parcel.tracking_number, Parcel.recipient_phone)
                .where(Parcel.recipient_phone.is_not(None))
                .order_by(Parcel.tracking_number.desc())
                .limit(1)
            ).one()
    finally:
        engine.dispose()
    served = [r for r in plan["routes"] if r["stops"]]
    complainers = {
        viewport: (parcel.tracking_number, parcel.recipient_phone)
        for viewport, parcel in zip(VIEWPORTS, delivered[len(VIEWPORTS) :])
    }
    return {
        "fakes": fakes,
        "complainers": complainers,
        "phone_suffix": phone[-4:],
        "phone_parcel": phone_parcel,
        "plan_id": plan["plan_id"],
        "routes": len(served),
        "stops": sum(len(r["stops"]) for r in served),
    }


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("console-browser")
    database = folder / "tracker.db"
    fill_database(database)
    prepared = _prepare(database)
    assert prepared["routes"] >= 1 and prepared["stops"] >= 2, prepared
    out = _tracker(database, folder / "instance", "users", "create", "li.na", "--role", "ops",
                   "--name", "李娜", "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    assert "created ops user li.na" in out
    server = LiveServer(
        f"sqlite:///{database}",
        folder / "instance",
        # Nothing listens there: the map must draw its routes without tiles.
        TRACKER_MAP_TILE_URL="http://127.0.0.1:9/{z}/{x}/{y}.png",
        # Each test signs li.na in afresh, a dozen within a minute on a fast run: the
        # sign-in limit (10 a minute, tested in test_sign_in.py) would refuse the last ones.
        TRACKER_CONSOLE_LOGIN_LIMIT="1000/minute",
    )
    yield Site(server, database, **prepared)
    server.stop()


@pytest.fixture(scope="module")
def shots() -> Path:
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)
    SCREENSHOTS.mkdir(parents=True)
    print(f"\nconsole screenshots: {SCREENSHOTS}")
    return SCREENSHOTS


class Visit:
    """One signed-in browser tab at one viewport; every page it opens is checked by axe."""

    def __init__(self, browser: Any, site: Site, viewport: str, shots: Path, lang: str = "zh-CN") -> None:
        self.site, self.viewport, self.shots = site, viewport, shots
        self.context = browser.new_context(viewport=VIEWPORTS[viewport], locale=lang, device_scale_factor=1)
        self.page = self.context.new_page()
        self.page.set_default_timeout(10_000)
        self.csp_reports: list[str] = []
        self.page.on(
            "console",
            lambda m: self.csp_reports.append(m.text) if "Content Security Policy" in m.text else None,
        )

    def sign_in(self) -> None:
        page = self.page
        page.goto(f"{self.site.server.url}/ops/cases")
        assert "/ops/login" in page.url
        self.check("login")
        page.fill("#username", "li.na")
        page.fill("#password", PASSWORD)
        page.click("form.signin button[type=submit]")
        page.wait_for_url("**/ops/cases")

    def check(self, name: str) -> None:
        """axe-core in the page: no violation of any rule it runs by default; then a screenshot."""
        page = self.page
        # Evaluated through the DevTools protocol, which the page's CSP (scripts from /static only) allows.
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.evaluate(AXE.read_text())
        result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        violations = [
            (v["id"], v["help"], [n["target"] for n in v["nodes"]][:5]) for v in result["violations"]
        ]
        page.screenshot(path=str(self.shots / f"{name}-{self.viewport}.png"), full_page=True)
        assert violations == [], f"{name} at {self.viewport}: {violations}"
        assert self.csp_reports == [], self.csp_reports

    def close(self) -> None:
        self.context.close()


@pytest.fixture(params=sorted(VIEWPORTS))
def visit(request: pytest.FixtureRequest, browser: Any, site: Site, shots: Path) -> Iterator[Visit]:
    visit = Visit(browser, site, request.param, shots)
    visit.sign_in()
    yield visit
    visit.close()


def test_it_works_a_suspected_fake_delivery_from_the_queue_to_resolved(visit: Visit) -> None:
    page, site = visit.page, visit.site
    case_id, tn = site.fakes[visit.viewport]
    page.select_option("#f-type", "suspected_fake_delivery")
    page.click("form.filters button[type=submit]")
    row = page.locator(f"tr.case-row[data-case-id='{case_id}']")
    assert row.count() == 1
    visit.check("queue")
    row.locator("a", has_text=f"#{case_id}").click()
    page.wait_for_url(f"**/ops/cases/{case_id}")
    assert "3.2 km" in page.inner_text(".reasons")
    visit.check("case-open")
    page.fill("#ack-note", "正在核实")
    page.click("form.acknowledge button")
    assert page.locator(".state").get_attribute("data-state") == "acknowledged"
    page.fill("#message", "您好，我们正在与快递员核实您的包裹，今天内给您回复。")
    page.click("form.answer button")
    assert page.locator(".history li[data-action=answered]").count() == 1
    page.select_option("#resolution", "confirmed")
    page.fill("#resolve-note", "快递员承认未送达")
    page.click("form.resolve button")
    assert page.locator(".state").get_attribute("data-state") == "resolved"
    actions = page.locator(".history li").evaluate_all("items => items.map(i => i.dataset.action)")
    assert actions == ["resolved", "answered", "acknowledged", "opened"]
    assert page.locator(".history .actor", has_text="user:li.na").count() == 3
    visit.check("case-resolved")
    engine = make_engine(f"sqlite:///{site.database}")
    try:
        with engine.connect() as conn:
            state = conn.scalar(select(Case.state).where(Case.id == case_id))
            answered = conn.scalar(
                select(CaseEvent.note).where(CaseEvent.case_id == case_id, CaseEvent.action == "answered")
            )
    finally:
        engine.dispose()
    assert state == CaseState.RESOLVED and answered.startswith("您好")
    assert tn in page.content()


def test_it_answers_a_customer_s_complaint_and_the_customer_reads_the_answer(visit: Visit) -> None:
    page, site = visit.page, visit.site
    tn, phone = site.complainers[visit.viewport]
    track = f"{site.server.url}/api/v1/track/{tn}"
    # The customer complains on the tracking page's API, verified by the last four digits of the phone.
    filed = requests.post(
        f"{track}/feedback",
        json={
            "verification": phone[-4:],
            "kind": "complaint",
            "about": "courier_conduct",
            "comment": "快递员态度很差",
        },
        timeout=10,
    )
    assert filed.status_code == 201, filed.text
    case_id = filed.json()["case_id"]

    page.goto(f"{site.server.url}/ops/cases?type=complaint")
    row = page.locator(f"tr.case-row[data-case-id='{case_id}']")
    assert row.count() == 1
    row.locator("a", has_text=f"#{case_id}").click()
    page.wait_for_url(f"**/ops/cases/{case_id}")
    assert "快递员态度很差" in page.inner_text(".reasons")
    visit.check("complaint")
    reply = "您好，已与快递员核实并批评教育，给您带来不便非常抱歉。"
    page.fill("#message", reply)
    page.click("form.answer button")
    assert page.locator(".history li[data-action=answered]").count() == 1
    visit.check("complaint-answered")

    # The customer reads the answer on their verified view.
    seen = requests.get(track, headers={"X-Verification": phone[-4:]}, timeout=10)
    assert seen.status_code == 200, seen.text
    assert [a["message"] for a in seen.json()["answers"]] == [reply]


def test_it_finds_a_parcel_by_phone_suffix_and_opens_it(visit: Visit) -> None:
    page, site = visit.page, visit.site
    page.click("nav.menu a[href^='/ops/parcels']")
    page.fill("#q", site.phone_suffix)
    page.click("form.search button")
    link = page.locator("table.found a", has_text=site.phone_parcel)
    assert link.count() == 1
    visit.check("parcel-search")
    link.click()
    page.wait_for_url(f"**/ops/parcels/{site.phone_parcel}")
    assert site.phone_suffix in page.inner_text(".recipient")  # unmasked for ops
    assert page.locator("table.scans tbody tr").count() >= 1
    visit.check("parcel")


def _edges(page: Any, wrap: str) -> tuple[float, float]:
    """The share of pure-white pixels in 4 px strips near the left and right edges of ``wrap``'s body rows.

    The left strip starts 6 px in: an overdue case's row has a 4 px red border there.
    """
    box = page.locator(f"{wrap} tbody").bounding_box()
    frame = page.locator(wrap).bounding_box()
    strips = []
    for x in (frame["x"] + 6, frame["x"] + frame["width"] - 6):
        clip = {"x": x, "y": box["y"], "width": 4, "height": min(box["height"], 200)}
        pixels = [p for row in png_rows(page.screenshot(clip=clip)) for p in row]
        strips.append(sum(min(p) >= 250 for p in pixels) / len(pixels))
    return strips[0], strips[1]


def test_a_table_wider_than_the_screen_shows_a_shadow_where_more_columns_lie(visit: Visit) -> None:
    page = visit.page
    wrap = ".table-wrap:has(table.queue)"
    page.select_option("#f-status", "all")  # the site's cases, whatever other tests did with them
    page.click("form.filters button[type=submit]")
    page.wait_for_selector(f"{wrap} tbody tr")
    scroll = page.locator(wrap).evaluate("el => [el.scrollWidth, el.clientWidth]")
    left, right = _edges(page, wrap)
    if visit.viewport == "desktop":
        assert scroll[0] <= scroll[1], "the queue fits a desktop screen"
        assert left > 0.5 and right > 0.5, "nothing to scroll: no shadow"
        return
    # At phone width the queue's columns run past the screen: a shadow on the right only.
    assert scroll[0] > scroll[1] + 100, scroll
    assert left > 0.5 and right == 0, (left, right)
    page.locator(wrap).evaluate("el => { el.scrollLeft = el.scrollWidth }")
    left, right = _edges(page, wrap)
    assert left == 0 and right > 0.5, (left, right)  # scrolled to the end: the shadow moves left
    visit.check("queue-scrolled")


def test_it_draws_a_station_plan_s_routes_on_the_map(visit: Visit) -> None:
    page, site = visit.page, visit.site
    page.click("nav.menu a[href^='/ops/plans']")
    visit.check("plans")
    page.click(f"a[href^='/ops/plans/{site.plan_id}']")
    page.wait_for_selector("#plan-map[data-routes]")
    assert page.locator("#plan-map path.route-line").count() == site.routes
    assert page.locator("#plan-map path.stop-marker").count() == site.stops
    assert page.locator("#plan-map path.station-marker").count() == 1
    assert page.locator("table.stops tbody tr").count() == site.stops
    visit.check("plan")


def test_it_lists_the_keys_and_the_reports(visit: Visit) -> None:
    page = visit.page
    page.click("nav.menu a[href^='/ops/keys']")
    assert page.locator("table.keys tbody tr.key", has_text="shop integration").count() == 1
    assert page.locator("table.keys button").count() == 0  # an ops user revokes nothing
    visit.check("keys")
    page.click("nav.menu a[href^='/ops/scorecards']")
    visit.check("scorecards")
    page.locator("ul.directory a").first.click()
    assert page.locator("table.rates tbody tr").count() == 6
    visit.check("scorecard")
    page.click("nav.menu a[href^='/ops/hotspots']")
    visit.check("hotspots")
    # The language switch keeps the page and changes its words.
    page.click("nav.lang a[hreflang=en]")
    assert page.get_attribute("html", "lang") == "en"
    assert page.inner_text("h1").strip() == "Damage hotspots"


def test_every_page_in_english_passes_axe(browser: Any, site: Site, shots: Path) -> None:
    """The English console, page by page at phone width: words, not codes, and no axe violation."""
    visit = Visit(browser, site, "phone", shots, lang="en")
    try:
        visit.sign_in()
        page, base = visit.page, site.server.url
        page.goto(f"{base}/ops/cases?lang=en")  # the switch's cookie keeps English from here on
        assert page.get_attribute("html", "lang") == "en"
        visit.check("en-queue")
        case_id, _ = site.fakes["phone"]
        for name, path in (
            ("en-case", f"/ops/cases/{case_id}"),
            ("en-parcel-search", f"/ops/parcels?q={site.phone_suffix}"),
            ("en-parcel", f"/ops/parcels/{site.phone_parcel}"),
            ("en-plans", "/ops/plans"),
            ("en-plan", f"/ops/plans/{site.plan_id}"),
            ("en-keys", "/ops/keys"),
            ("en-scorecards", "/ops/scorecards"),
            ("en-hotspots", "/ops/hotspots"),
        ):
            page.goto(base + path)
            assert page.get_attribute("html", "lang") == "en", name
            visit.check(name)
        page.goto(f"{base}/ops/scorecards")
        page.locator("ul.directory a").last.click()  # the last: the first is tested in Chinese
        visit.check("en-scorecard")
    finally:
        visit.close()
