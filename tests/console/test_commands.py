"""``tracker users create|list|disable`` and the console's settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tracker.cli import main
from tracker.settings import Settings, SettingsError


@pytest.fixture
def env(tmp_path: Path, sqlite_template: Path) -> dict[str, str]:
    database = tmp_path / "tracker.db"
    database.write_bytes(sqlite_template.read_bytes())
    return {"TRACKER_DATABASE_URL": f"sqlite:///{database}", "TRACKER_INSTANCE_PATH": str(tmp_path / "i")}


def test_it_creates_lists_and_disables_console_users(env: dict[str, str]) -> None:
    runner = CliRunner()
    created = runner.invoke(
        main, ["users", "create", "li.na", "--role", "admin", "--name", "李娜", "--password-stdin"],
        input="a long enough password\n", env=env,
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    prompted = runner.invoke(
        main, ["users", "create", "wang.wu"], input="another long password\nanother long password\n", env=env
    )
    assert prompted.exit_code == 0, prompted.output
    again = runner.invoke(
        main, ["users", "create", "li.na", "--password-stdin"], input="x" * 12 + "\n", env=env
    )
    assert again.exit_code != 0 and "exists already" in again.output
    short = runner.invoke(main, ["users", "create", "zhao", "--password-stdin"], input="short\n", env=env)
    assert short.exit_code != 0 and "password: at least 10 characters" in short.output
    assert runner.invoke(main, ["users", "disable", "wang.wu"], env=env).exit_code == 0
    listing = runner.invoke(main, ["users", "list"], env=env).output.splitlines()
    assert listing[0].startswith("li.na\tadmin\t李娜\t") and listing[0].endswith("active")
    assert listing[1].startswith("wang.wu\tops\t") and "disabled" in listing[1]
    unknown = runner.invoke(main, ["users", "disable", "nobody"], env=env)
    assert unknown.exit_code != 0 and "no user" in unknown.output


def test_the_console_settings_are_read_and_checked() -> None:
    settings = Settings.from_env(
        {
            "TRACKER_CONSOLE_SESSION_LIFETIME": "3600",
            "TRACKER_CONSOLE_LOGIN_LIMIT": "5/minute;20/hour",
            "TRACKER_MAP_TILE_URL": "https://tiles.example.org/{z}/{x}/{y}.png",
        }
    )
    assert settings.console_session_lifetime.total_seconds() == 3600
    assert settings.console_login_limit == "5/minute;20/hour"
    assert settings.map_tile_url.startswith("https://tiles.example.org/")
    assert Settings.from_env({"TRACKER_MAP_TILE_URL": "off"}).map_tile_url == ""
    with pytest.raises(SettingsError, match="TRACKER_MAP_TILE_URL"):
        Settings.from_env({"TRACKER_MAP_TILE_URL": "javascript:alert(1)"})
    with pytest.raises(SettingsError, match="TRACKER_CONSOLE_LOGIN_LIMIT"):
        Settings.from_env({"TRACKER_CONSOLE_LOGIN_LIMIT": "often"})
    with pytest.raises(SettingsError, match="TRACKER_CONSOLE_SESSION_LIFETIME"):
        Settings.from_env({"TRACKER_CONSOLE_SESSION_LIFETIME": "0"})
