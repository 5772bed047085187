"""The pickup code (取件码) in a real browser at phone width: hidden until the recipient verifies.

Like :mod:`tests.tracking.test_browser` (a simulated day, ``tracker serve``,
Debian's Chromium through Playwright); screenshots go to
``test-artifacts/screenshots/pickup/`` (git-ignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.live import CHROMIUM, LiveServer
from tests.tracking.live import PHONE_VIEWPORT, Sample, fill_database
from tests.tracking.test_browser import SCREENSHOTS
from tracker.core.db import make_engine
from tracker.core.models import Parcel

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}"),
]

SHOTS = SCREENSHOTS / "pickup"
WORDS = {"zh-CN": ("取件码", "验证"), "en": ("Pickup code", "Verify")}


@pytest.fixture(scope="module")
def waiting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Sample, str]]:
    folder = tmp_path_factory.mktemp("pickup-browser")
    database = folder / "tracker.db"
    sample = fill_database(database, parcels=80)["available_for_pickup"]
    engine = make_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:
            code = conn.scalar(
                select(Parcel.pickup_code).where(Parcel.tracking_number == sample.tracking_number)
            )
    finally:
        engine.dispose()
    assert code is not None
    server = LiveServer(f"sqlite:///{database}", folder / "instance", TRACKER_RATELIMIT_READ="600/minute")
    yield server, sample, code
    server.stop()


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_the_pickup_code_appears_only_after_verification(waiting: Any, browser: Any, lang: str) -> None:
    server, sample, code = waiting
    SHOTS.mkdir(parents=True, exist_ok=True)
    label, verify = WORDS[lang]
    context = browser.new_context(viewport=PHONE_VIEWPORT, locale="en-US", device_scale_factor=1)
    try:
        page = context.new_page()
        page.goto(f"{server.url}/track/{sample.tracking_number}?lang={lang}")
        assert code not in page.content() and page.locator("#pickup-code").count() == 0
        page.fill("#code", sample.phone[-4:])
        page.click(f"form.verify button:has-text('{verify}')")
        # The verified page comes back in the chosen language, with the code near the top.
        assert page.get_attribute("html", "lang") == lang
        shown = page.locator("#pickup-code")
        assert label in shown.inner_text() and shown.locator("strong").inner_text() == code
        # The verified page opens at the code: in view without scrolling.
        box = shown.bounding_box()
        assert box is not None and -1 <= box["y"] < PHONE_VIEWPORT["height"] - box["height"]
        page.screenshot(path=str(SHOTS / f"pickup-code-{lang}.png"), full_page=False)
    finally:
        context.close()
