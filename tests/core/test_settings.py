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
