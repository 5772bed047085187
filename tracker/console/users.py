"""Console users in the database: create, list, disable, and check a password (store).

Passwords are hashed with werkzeug.security (scrypt, a random salt per
user); only the hash is kept. :func:`check_password` does the same work for
an unknown username as for a known one (it checks against a dummy hash), so
the time of an answer does not tell which usernames exist, and the caller
answers both the same way. A disabled user cannot sign in, and a session
of theirs stops working at its next request (:mod:`tracker.console.auth`
reads the user on every request).

Functions take a ``Connection`` and never begin or commit.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from tracker.core.errors import Conflict, FieldError, NotFound, ValidationFailed
from tracker.core.inputs import USERNAME_PATTERN
from tracker.core.models import User
from tracker.core.vocabulary import UserRole

#: Shorter passwords are refused at creation.
MIN_PASSWORD = 10
#: Checked against when the username is unknown: the same scrypt work as a real check.
_DUMMY_HASH = generate_password_hash("not a password of anyone")


def create_user(
    conn: Connection, username: str, password: str, *, role: UserRole, now: datetime, display_name: str | None
) -> int:
    errors = []
    if not re.match(USERNAME_PATTERN, username):
        errors.append(
            FieldError("username", "1 to 64 letters, digits and . _ @ -, starting with a letter or digit")
        )
    if len(password) < MIN_PASSWORD:
        errors.append(FieldError("password", f"at least {MIN_PASSWORD} characters"))
    if display_name is not None and len(display_name) > 100:
        errors.append(FieldError("display_name", "at most 100 characters"))
    if errors:
        raise ValidationFailed("cannot create the user", errors)
    if conn.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"a user {username!r} exists already")
    user_id = conn.scalar(
        insert(User)
        .values(
            username=username,
            password_hash=generate_password_hash(password),
            role=role,
            display_name=display_name,
            created_at=now,
        )
        .returning(User.id)
    )
    assert user_id is not None
    return user_id


def check_password(conn: Connection, username: str, password: str) -> Any | None:
    """The active user with this username and password, else None (unknown, wrong or disabled alike)."""
    row = conn.execute(
        select(User.id, User.username, User.password_hash, User.role, User.disabled_at).where(
            User.username == username
        )
    ).first()
    # check_password_hash compares with hmac.compare_digest: constant time for the digest.
    matches = check_password_hash(row.password_hash if row else _DUMMY_HASH, password)
    if row is None or not matches or row.disabled_at is not None:
        return None
    return row


def active_user(conn: Connection, user_id: int) -> Any | None:
    """The session's user if still active: id, username, role, display name."""
    return conn.execute(
        select(User.id, User.username, User.role, User.display_name).where(
            User.id == user_id, User.disabled_at.is_(None)
        )
    ).first()


def list_users(conn: Connection, *, active_only: bool = False) -> list[Any]:
    statement = select(
        User.id, User.username, User.role, User.display_name, User.created_at, User.disabled_at
    )
    if active_only:
        statement = statement.where(User.disabled_at.is_(None))
    return list(conn.execute(statement.order_by(User.username)))


def disable_user(conn: Connection, username: str, *, now: datetime) -> bool:
    """Disable; False when already disabled."""
    changed = conn.execute(
        update(User).where(User.username == username, User.disabled_at.is_(None)).values(disabled_at=now)
    ).rowcount
    if changed:
        return True
    if conn.scalar(select(User.id).where(User.username == username)) is None:
        raise NotFound(f"no user {username!r}")
    return False
