"""The tracking page in a real browser (Debian's Chromium) against a real server.

A simulated day goes into a fresh SQLite file, ``tracker serve`` (gunicorn)
serves it, and Playwright drives Chromium through the pages: three parcels
in both languages, the language switch, verification and a rating. Every
step leaves a screenshot in ``test-artifacts/screenshots/`` (git-ignored);
the folder is printed in the test output.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.live import CHROMIUM, LiveServer
from tests.tracking.live import PHONE_VIEWPORT, Sample, fill_database
from tracker.core.db import make_engine
from tracker.core.models import Parcel, Rating

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}"),
]

HEADLINES = {
    "in_transit": {"zh-CN": ("运输中",), "en": ("On its way",)},
    "delivered": {"zh-CN": ("已签收", "已取件"), "en": ("Delivered", "Collected")},
    "available_for_pickup": {"zh-CN": ("待取件",), "en": ("Ready for pickup",)},
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, Sample], Path]]:
    folder = tmp_path_factory.mktemp("browser")
    database = folder / "tracker.db"
    samples = fill_database(database)
    assert set(HEADLINES) <= set(samples), samples
    server = LiveServer(f"sqlite:///{database}", folder / "instance", TRACKER_RATELIMIT_READ="600/minute")
    yield server, samples, database
    server.stop()


@pytest.fixture(scope="module")
def shots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):  # its own only: the console's are in a folder beside them
        old.unlink()
    print(f"\nscreenshots: {SCREENSHOTS}")
    return SCREENSHOTS


def _page(browser: Any, locale: str = "zh-CN") -> Any:
    context = browser.new_context(viewport=PHONE_VIEWPORT, locale=locale, device_scale_factor=1)
    return context.new_page()


@pytest.mark.parametrize("status", sorted(HEADLINES))
@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_it_shows_a_parcel_in_each_language_in_a_real_browser(
    site: Any, browser: Any, shots: Path, status: str, lang: str
) -> None:
    server, samples, _ = site
    tn = samples[status].tracking_number
    page = _page(browser)
    try:
        page.goto(f"{server.url}/track/{tn}?lang={lang}")
        assert page.get_attribute("html", "lang") == lang
        assert page.inner_text("h1").strip() in HEADLINES[status][lang]
        steps = page.locator("ol.progress > li")
        assert steps.count() == 4
        assert page.locator("ol.timeline > li").count() >= 3
        # Masked: no phone digits beyond the first three anywhere on the page.
        assert samples[status].phone not in page.content()
        if status == "available_for_pickup":
            assert page.locator("dt", has_text="保管至" if lang == "zh-CN" else "Held until").count() == 1
        # Nothing was fetched from anywhere but our server.
        page.screenshot(path=str(shots / f"{status}-{lang}.png"), full_page=True)
    finally:
        page.context.close()


def test_it_switches_language_with_the_visible_switch_and_remembers_it(
    site: Any, browser: Any, shots: Path
) -> None:
    server, samples, _ = site
    tn = samples["in_transit"].tracking_number
    page = _page(browser, locale="zh-CN")
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    try:
        page.goto(f"{server.url}/track")
        page.fill("#tn", tn)
        page.click("button[type=submit]")
        assert page.inner_text("h1").strip() == "运输中"
        page.click("nav.lang a[hreflang=en]")
        assert page.inner_text("h1").strip() == "On its way"
        assert page.get_attribute("html", "lang") == "en"
        page.goto(f"{server.url}/track/{tn}")  # no ?lang=: the cookie decides
        assert page.inner_text("h1").strip() == "On its way"
        page.screenshot(path=str(shots / "switched-to-en.png"), full_page=True)
        page.click("nav.lang a[hreflang=zh-CN]")
        assert page.inner_text("h1").strip() == "运输中"
    finally:
        page.context.close()
    assert requested and all(url.startswith(server.url) for url in requested)


def test_it_verifies_and_submits_a_rating_in_a_real_browser(site: Any, browser: Any, shots: Path) -> None:
    server, samples, database = site
    sample = samples["delivered"]
    page = _page(browser, locale="en-US")
    try:
        page.goto(f"{server.url}/track/{sample.tracking_number}")
        assert page.get_attribute("html", "lang") == "en"
        page.fill("#code", sample.phone[-4:])
        page.click("form.verify button")
        assert page.locator("#verified").count() == 1
        page.screenshot(path=str(shots / "verified-en.png"), full_page=True)
        form = page.locator("form.rating")
        for name, score in (("packaging", 4), ("courier", 5), ("speed", 3)):
            form.locator(f"input[name={name}][value='{score}']").check()
        form.locator("textarea[name=comment]").fill("Friendly courier")
        form.locator("button").click()
        assert page.locator(".thanks").inner_text().strip() == "Thank you for your rating."
        assert page.locator("form.rating input[name=courier][value='5']").is_checked()
        page.screenshot(path=str(shots / "rated-en.png"), full_page=True)
    finally:
        page.context.close()
    engine = make_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:
            parcel_id = conn.scalar(select(Parcel.id).where(Parcel.tracking_number == sample.tracking_number))
            rating = conn.execute(select(Rating).where(Rating.parcel_id == parcel_id)).one()
    finally:
        engine.dispose()
    assert (rating.packaging, rating.courier, rating.speed, rating.comment) == (4, 5, 3, "Friendly courier")
