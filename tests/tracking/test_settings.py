"""The tracking page's settings: read from TRACKER_* variables, loud about bad values."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tracker.settings import Settings, SettingsError


def test_it_reads_the_tracking_settings_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "TRACKER_PICKUP_HOLD": "86400",
            "TRACKER_RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379",
            "TRACKER_RATELIMIT_READ": "10/second;500/hour",
            "TRACKER_VERIFICATION_MAX_FAILURES": "3",
            "TRACKER_VERIFICATION_WINDOW": "7200",
            "TRACKER_SECRET_KEY": "s3cret",
            "TRACKER_PROXY_HOPS": "1",
        }
    )
    assert settings.pickup_hold == timedelta(hours=24)
    assert settings.ratelimit_storage_uri == "redis://127.0.0.1:6379"
    assert settings.ratelimit_read == "10/second;500/hour"
    assert settings.verification_max_failures == 3
    assert settings.verification_window == timedelta(hours=2)
    assert settings.proxy_hops == 1
    assert "s3cret" not in repr(settings)


def test_it_has_safe_defaults() -> None:
    settings = Settings()
    assert settings.pickup_hold == timedelta(hours=72)
    assert settings.ratelimit_storage_uri == "memory://"
    assert (settings.verification_max_failures, settings.verification_window) == (5, timedelta(hours=1))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TRACKER_RATELIMIT_READ", "lots"),
        ("TRACKER_RATELIMIT_STORAGE_URI", "memcached://x"),
        ("TRACKER_VERIFICATION_MAX_FAILURES", "0"),
        ("TRACKER_PICKUP_HOLD", "0"),
    ],
)
def test_it_names_the_variable_with_a_bad_value(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_it_keeps_one_generated_secret_for_every_worker(tmp_path: Path) -> None:
    from tracker.tracking.http import secret_key

    settings = Settings(instance_path=tmp_path)
    first, second = secret_key(settings), secret_key(settings)
    assert first == second and len(first) == 64
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert secret_key(settings.but(secret_key="given")) == b"given"
