"""``tracker merchants create|list`` and ``tracker keys create --merchant|list|revoke``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.helpers import registration
from tracker.app import create_app
from tracker.cli import main
from tracker.settings import Settings


def _run(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.mark.committing  # the commands open their own engine and commit
def test_merchants_and_their_keys_from_the_command_line(database_url: str, tmp_path: Path) -> None:
    env = {"TRACKER_DATABASE_URL": database_url, "TRACKER_INSTANCE_PATH": str(tmp_path)}
    assert _run(env, "db", "upgrade").exit_code == 0

    created = _run(env, "merchants", "create", "SHOP-7", "--name", "Shop Seven")
    twice = _run(env, "merchants", "create", "SHOP-7", "--name", "Again")
    unbound = _run(env, "keys", "create", "--role", "merchant")
    unknown = _run(env, "keys", "create", "--role", "merchant", "--merchant", "SHOP-404")
    key = _run(env, "keys", "create", "--role", "merchant", "--merchant", "SHOP-7", "--label", "shop 7 api")

    assert created.exit_code == 0 and "SHOP-7" in created.output
    assert twice.exit_code == 1 and "exists already" in twice.output
    assert unbound.exit_code == 1 and "--merchant" in unbound.output
    assert unknown.exit_code == 1 and "no merchant with code 'SHOP-404'" in unknown.output
    assert key.exit_code == 0
    secret = key.output.strip()
    assert secret.startswith("trk_")
    merchants = _run(env, "merchants", "list").output.splitlines()
    assert merchants[0] == "code\tname\tcreated" and merchants[1].startswith("SHOP-7\tShop Seven\t")

    listing = _run(env, "keys", "list")
    [row] = [line.split("\t") for line in listing.output.splitlines()[1:]]
    assert row[1:5] == [secret[:12], "merchant", "merchant SHOP-7", "shop 7 api"] and row[6] == "-"
    assert secret not in listing.output  # never the key itself

    # The key works, as its merchant's...
    app = create_app(Settings(database_url=database_url, instance_path=tmp_path, sweep_interval=0))
    client = app.test_client()
    auth = {"Authorization": f"Bearer {secret}"}
    body = registration("TRKCLI0001", origin_facility=None)  # no network loaded here
    assert client.post("/api/v1/parcels", json=body, headers=auth).status_code == 201
    listed = client.get("/api/v1/parcels", headers=auth).get_json()["parcels"]
    app.extensions["tracker"].engine.dispose()
    assert [(p["tracking_number"], p["merchant"]) for p in listed] == [("TRKCLI0001", "SHOP-7")]

    # ...until it is revoked (by its prefix; a fresh process, so no cached key).
    revoked = _run(env, "keys", "revoke", secret[:12])
    again = _run(env, "keys", "revoke", row[0])
    nothing = _run(env, "keys", "revoke", "trk_nothing1")
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert again.exit_code == 0 and "already revoked" in again.output
    assert nothing.exit_code == 1 and "no key with id or prefix" in nothing.output
    assert _run(env, "keys", "list").output.splitlines()[1].split("\t")[6] != "-"
    fresh = create_app(Settings(database_url=database_url, instance_path=tmp_path, sweep_interval=0))
    refused = fresh.test_client().get("/api/v1/parcels", headers=auth)
    fresh.extensions["tracker"].engine.dispose()
    assert refused.status_code == 401 and "revoked" in refused.get_json()["error"]["message"]
