"""Console fixtures: users who sign in, a browser-like client that carries the CSRF token, cases.

``console(client).sign_in("li.na")`` signs a test client in through the real
form (the token read off the sign-in page, as a browser would post it);
``.post(url, data)`` then sends a form with the page's token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select

from tests.conftest import FakeClock
from tracker.cases.reasons import Reason
from tracker.cases.store import open_case
from tracker.console.users import create_user
from tracker.core.db import write_transaction
from tracker.core.models import Parcel
from tracker.core.vocabulary import CaseType, CustomerTier, UserRole

PASSWORD = "correct horse battery"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def token_of(html: str) -> str:
    found = TOKEN.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


@dataclass
class Console:
    client: Any
    token: str = ""

    def get(self, url: str, **kwargs: Any) -> Any:
        answer = self.client.get(url, **kwargs)
        found = TOKEN.search(answer.get_data(as_text=True))
        if found:
            self.token = found.group(1)
        return answer

    def post(self, url: str, data: dict[str, Any] | None = None, *, token: bool = True, **kwargs: Any) -> Any:
        form = dict(data or {})
        if token:
            form.setdefault("csrf_token", self.token)
        return self.client.post(url, data=form, **kwargs)

    def sign_in(self, username: str, password: str = PASSWORD) -> Any:
        self.get("/ops/login")
        return self.post("/ops/login", {"username": username, "password": password})


@pytest.fixture
def users(engine: Engine, clock: FakeClock) -> dict[str, int]:
    """li.na (ops), wang.admin (admin), zhao.left (ops, disabled later by tests)."""
    with write_transaction(engine) as conn:
        return {
            name: create_user(conn, name, PASSWORD, role=role, now=clock(), display_name=display)
            for name, role, display in (
                ("li.na", UserRole.OPS, "李娜"),
                ("wang.admin", UserRole.ADMIN, "王管理"),
                ("zhao.left", UserRole.OPS, None),
            )
        }


@pytest.fixture
def console(app: Any, users: dict[str, int]) -> Console:
    return Console(app.test_client())


@pytest.fixture
def ops(console: Console) -> Console:
    answer = console.sign_in("li.na")
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return console


@pytest.fixture
def admin(app: Any, users: dict[str, int]) -> Console:
    admin = Console(app.test_client())
    assert admin.sign_in("wang.admin").status_code == 303
    return admin


def add_parcel(engine: Engine, clock: FakeClock, tn: str, *, tier: CustomerTier = CustomerTier.NORMAL,
               phone: str = "13800001234", name: str = "张三丰") -> int:  # fmt: skip
    with write_transaction(engine) as conn:
        parcel_id = conn.scalar(
            insert(Parcel)
            .values(
                tracking_number=tn,
                first_seen_at=clock(),
                updated_at=clock(),
                customer_tier=tier,
                recipient_name=name,
                recipient_phone=phone,
                dest_city="上海",
                dest_district="黄浦区",
                dest_address="南京东路100号",
            )
            .returning(Parcel.id)
        )
    assert parcel_id is not None
    return parcel_id


def add_case(engine: Engine, clock: FakeClock, tn: str, type_: CaseType, *,
             tier: CustomerTier = CustomerTier.NORMAL, facility: str | None = None,
             courier: str | None = None, hours_ago: float = 0) -> int:  # fmt: skip
    from datetime import timedelta

    with write_transaction(engine) as conn:
        parcel_id = conn.scalar(select(Parcel.id).where(Parcel.tracking_number == tn))
    if parcel_id is None:
        parcel_id = add_parcel(engine, clock, tn, tier=tier)
    with write_transaction(engine) as conn:
        case_id, _ = open_case(
            conn,
            parcel_id,
            type_,
            [Reason("test", f"{type_.value} for {tn}")],
            now=clock() - timedelta(hours=hours_ago),
            facility=facility,
            courier=courier,
        )
    return case_id
