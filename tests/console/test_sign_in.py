"""Signing in to the ops console: passwords, disabled users, the limit, CSRF, cookies, keys vs sessions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from tests.conftest import FakeClock, Personas
from tests.console.conftest import PASSWORD, Console, add_case
from tracker.app import create_app
from tracker.console.users import disable_user
from tracker.core.db import write_transaction
from tracker.core.models import CaseEvent
from tracker.core.vocabulary import CaseType
from tracker.settings import Settings


def test_it_signs_in_with_the_right_password_and_lands_on_the_queue(console: Console) -> None:
    console.get("/ops/login")
    answer = console.post("/ops/login", {"username": "li.na", "password": PASSWORD, "next": "/ops/keys"})
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/ops/keys"
    page = console.get("/ops/cases?lang=en")
    assert page.status_code == 200
    assert "李娜" in page.get_data(as_text=True)  # the display name, beside "Sign out"


def test_it_answers_a_wrong_password_and_an_unknown_user_the_same_way(console: Console) -> None:
    console.get("/ops/login?lang=en")
    wrong = console.post("/ops/login?lang=en", {"username": "li.na", "password": "not the password"})
    unknown = console.post("/ops/login?lang=en", {"username": "nobody.here", "password": "not the password"})
    assert wrong.status_code == unknown.status_code == 401
    for answer in (wrong, unknown):
        assert "Wrong username or password." in answer.get_data(as_text=True)
    assert console.get("/ops/cases").status_code == 303  # still not signed in


def test_it_refuses_a_disabled_user_and_ends_a_session_they_already_had(
    console: Console, app: Any, engine: Engine, clock: FakeClock
) -> None:
    assert console.sign_in("zhao.left").status_code == 303
    assert console.get("/ops/cases").status_code == 200
    with write_transaction(engine) as conn:
        assert disable_user(conn, "zhao.left", now=clock())
    assert console.get("/ops/cases").headers["Location"].startswith("/ops/login")
    again = Console(app.test_client())
    assert again.sign_in("zhao.left").status_code == 401


def test_it_never_redirects_off_the_console_after_sign_in(console: Console) -> None:
    console.get("/ops/login")
    answer = console.post(
        "/ops/login", {"username": "li.na", "password": PASSWORD, "next": "//evil.example/"}
    )
    assert answer.headers["Location"] == "/ops/cases"


@pytest.fixture
def strict_app(settings: Settings, engine: Engine, clock: FakeClock) -> Any:
    app = create_app(replace(settings, console_login_limit="3/minute", workers=1), engine=engine, clock=clock)
    app.config["TESTING"] = True
    return app


def test_it_limits_sign_in_tries_per_username_across_clients(strict_app: Any, users: dict[str, int]) -> None:
    for address in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        client = Console(strict_app.test_client())
        client.get("/ops/login", environ_base={"REMOTE_ADDR": address})
        answer = client.post(
            "/ops/login", {"username": "li.na", "password": "guess"}, environ_base={"REMOTE_ADDR": address}
        )
        assert answer.status_code == 401
    late = Console(strict_app.test_client())
    late.get("/ops/login", environ_base={"REMOTE_ADDR": "192.0.2.9"})
    # The right password, from a fresh address: the username's budget is spent.
    refused = late.post(
        "/ops/login", {"username": "li.na", "password": PASSWORD}, environ_base={"REMOTE_ADDR": "192.0.2.9"}
    )
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    # Another user from that address is not held up by li.na's budget.
    assert late.sign_in("wang.admin").status_code == 303


def test_it_limits_sign_in_tries_per_client_across_usernames(strict_app: Any, users: dict[str, int]) -> None:
    client = Console(strict_app.test_client())
    client.get("/ops/login")
    for name in ("a.one", "b.two", "c.three"):
        assert client.post("/ops/login", {"username": name, "password": "guess"}).status_code == 401
    assert client.post("/ops/login", {"username": "li.na", "password": PASSWORD}).status_code == 429


def test_it_refuses_a_post_without_a_valid_csrf_token(ops: Console, engine: Engine, clock: FakeClock) -> None:
    case_id = add_case(engine, clock, "TRK0000000001", CaseType.STALE)
    url = f"/ops/cases/{case_id}/acknowledge"
    missing = ops.post(url, {"note": "x"}, token=False)
    forged = ops.post(url, {"note": "x", "csrf_token": "forged"})
    assert missing.status_code == forged.status_code == 400
    with engine.connect() as conn:
        assert (
            conn.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.action == "acknowledged"))
            == 0
        )
    # The sign-in form wants its token too.
    fresh = Console(ops.client.application.test_client())
    assert (
        fresh.post("/ops/login", {"username": "li.na", "password": PASSWORD}, token=False).status_code == 400
    )
    # With the page's token the same form goes through.
    ops.get(f"/ops/cases/{case_id}")
    assert ops.post(url, {"note": "x"}).status_code == 303


def test_it_keeps_the_session_in_an_httponly_lax_cookie_for_the_console_only(console: Console) -> None:
    answer = console.sign_in("li.na")
    cookie = next(c for c in answer.headers.getlist("Set-Cookie") if c.startswith("tracker_ops="))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "expires"} <= attributes
    assert "Path=/ops" in cookie and "SameSite=Lax" in cookie
    assert "secure" not in attributes  # plain http in the test; https sets it (next test)


def test_it_marks_the_cookie_secure_over_https(console: Console) -> None:
    console.get("/ops/login", base_url="https://localhost")
    answer = console.post(
        "/ops/login", {"username": "li.na", "password": PASSWORD}, base_url="https://localhost",
        headers={"Referer": "https://localhost/ops/login"},
    )  # fmt: skip
    assert answer.status_code == 303
    cookie = next(c for c in answer.headers.getlist("Set-Cookie") if c.startswith("tracker_ops="))
    assert "Secure" in cookie


def test_the_console_ignores_api_keys_and_the_api_ignores_console_sessions(
    ops: Console, personas: Personas, app: Any
) -> None:
    # A key opens no console page.
    keyed = app.test_client().get("/ops/cases", headers={"Authorization": f"Bearer {personas.ops.key}"})
    assert keyed.status_code == 303 and keyed.headers["Location"].startswith("/ops/login")
    # A signed-in console user's cookie opens no API endpoint (the cookie is not even sent outside /ops).
    assert ops.client.get("/api/v1/cases").status_code == 401


def test_it_signs_out_with_a_post(ops: Console) -> None:
    ops.get("/ops/cases")
    assert ops.post("/ops/logout").status_code == 303
    assert ops.get("/ops/cases").status_code == 303


def test_it_sends_security_headers_that_allow_only_own_scripts_and_the_tile_host(ops: Console) -> None:
    answer = ops.get("/ops/cases")
    csp = answer.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp
    assert "img-src 'self' data: https://tile.openstreetmap.org;" in csp
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Cache-Control"] == "private, no-store"


def test_the_session_ends_after_its_lifetime(
    settings: Settings, engine: Engine, clock: FakeClock, users: dict[str, int]
) -> None:
    app = create_app(
        replace(settings, console_session_lifetime=timedelta(hours=1)), engine=engine, clock=clock
    )
    client = Console(app.test_client())
    answer = client.sign_in("li.na")
    cookie = next(c for c in answer.headers.getlist("Set-Cookie") if c.startswith("tracker_ops="))
    expires = parsedate_to_datetime(cookie.split("Expires=", 1)[1].split(";", 1)[0])
    # Flask signs the cookie with the real clock and refuses it once the lifetime has passed.
    assert abs(expires - datetime.now(UTC) - timedelta(hours=1)) < timedelta(minutes=1)


def test_only_an_answer_that_touched_the_session_sets_its_cookie_or_varies_on_it(app: Any) -> None:
    # No cookie and no session use (every request outside /ops): nothing about the session.
    plain = app.test_client().get("/healthz")
    assert plain.status_code == 200
    assert "Set-Cookie" not in plain.headers and "Cookie" not in plain.headers.get("Vary", "")
    # The sign-in form keeps its CSRF token in the session: cookie set, answer varies on it.
    form = app.test_client().get("/ops/login")
    assert any(c.startswith("tracker_ops=") for c in form.headers.getlist("Set-Cookie"))
    assert "Cookie" in form.headers["Vary"]
    # A console page read the (empty) session to find nobody signed in: its redirect varies on it.
    anonymous = app.test_client().get("/ops/cases")
    assert anonymous.status_code == 303 and "Cookie" in anonymous.headers["Vary"]
    # A cookie that was not signed with the console's key opens an empty session: back to sign-in.
    forged = app.test_client()
    forged.set_cookie("tracker_ops", "eyJ1aWQiOjF9.forged.signature", path="/ops")
    answer = forged.get("/ops/cases")
    assert answer.status_code == 303 and answer.headers["Location"].startswith("/ops/login")
