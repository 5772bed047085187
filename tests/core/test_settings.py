"""One settings object, loud about bad values."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tracker.settings import Settings, SettingsError


def test_it_reads_every_knob_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "TRACKER_DATABASE_URL": "postgresql+psycopg://x@h/db",
            "TRACKER_TIMEZONE": "Asia/Urumqi",
            "TRACKER_BATCH_LIMIT": "100",
            "TRACKER_CLOCK_SKEW": "90",
        }
    )
    assert settings.sqlalchemy_url == "postgresql+psycopg://x@h/db"
    assert settings.timezone.key == "Asia/Urumqi"
    assert settings.batch_limit == 100
    assert settings.clock_skew == timedelta(seconds=90)


def test_it_defaults_to_sqlite_under_the_instance_folder_and_shanghai_time() -> None:
    settings = Settings.from_env({})
    assert settings.sqlalchemy_url.startswith("sqlite:///") and "instance" in settings.sqlalchemy_url
    assert settings.timezone.key == "Asia/Shanghai"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TRACKER_BATCH_LIMIT", "lots"),
        ("TRACKER_TIMEZONE", "Mars/Olympus"),
        ("TRACKER_LOG_LEVEL", "chatty"),
        ("TRACKER_CLOCK_SKEW", "soon"),
    ],
)
def test_it_names_the_variable_with_a_bad_value(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_replicas_are_a_list_of_postgresql_urls_beside_a_postgresql_primary() -> None:
    primary = "postgresql+psycopg://app@db1/tracker"
    settings = Settings.from_env(
        {
            "TRACKER_DATABASE_URL": primary,
            "TRACKER_DATABASE_REPLICA_URL": "postgresql+psycopg://app@db2/tracker, postgresql+psycopg://app@db3/tracker",
            "TRACKER_REPLICA_MAX_LAG": "2.5",
        }
    )
    assert settings.database_replica_url == (
        "postgresql+psycopg://app@db2/tracker",
        "postgresql+psycopg://app@db3/tracker",
    )
    assert settings.replica_max_lag == timedelta(seconds=2.5)
    with pytest.raises(SettingsError, match="TRACKER_DATABASE_REPLICA_URL"):
        Settings.from_env({"TRACKER_DATABASE_URL": primary, "TRACKER_DATABASE_REPLICA_URL": "sqlite:///x.db"})
    with pytest.raises(SettingsError, match="needs a PostgreSQL TRACKER_DATABASE_URL"):
        Settings.from_env({"TRACKER_DATABASE_REPLICA_URL": "postgresql+psycopg://app@db2/tracker"})
