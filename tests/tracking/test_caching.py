"""Polling clients revalidate with ETag / Last-Modified and get 304 while nothing changed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.conftest import T0
from tests.helpers import at, scan


def test_it_answers_304_to_a_client_that_has_the_current_version(parcels: Any, client: Any) -> None:
    tn = parcels.make("in_transit")
    first = client.get(f"/api/v1/track/{tn}")
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "private, no-cache"
    again = client.get(f"/api/v1/track/{tn}", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.get_data() == b""
    assert again.headers["ETag"] == etag


def test_it_answers_200_with_a_new_etag_once_the_parcel_moves(parcels: Any, client: Any) -> None:
    tn = parcels.make("in_transit")
    etag = client.get(f"/api/v1/track/{tn}").headers["ETag"]
    parcels.scan(tn, scan(f"{tn}-x", tn, "departed", at(T0, -30), facility="SC-SH-01"))
    moved = client.get(f"/api/v1/track/{tn}", headers={"If-None-Match": etag})
    assert moved.status_code == 200
    assert moved.headers["ETag"] != etag
    assert moved.json["events"][0]["type"] == "departed"


def test_it_changes_the_etag_when_an_eta_appears_without_a_scan(parcels: Any, client: Any) -> None:
    tn = parcels.make("in_transit")
    etag = client.get(f"/api/v1/track/{tn}").headers["ETag"]
    parcels.set(tn, eta_start=T0 + timedelta(hours=2), eta_end=T0 + timedelta(hours=4), eta_source="route")
    answer = client.get(f"/api/v1/track/{tn}", headers={"If-None-Match": etag})
    assert answer.status_code == 200
    eta = answer.json["eta"]
    assert (eta["kind"], eta["start"], eta["end"]) == (
        "window", "2026-11-20T14:00:00+08:00", "2026-11-20T16:00:00+08:00"
    )  # fmt: skip


def test_it_answers_304_to_if_modified_since_the_last_change(parcels: Any, client: Any) -> None:
    tn = parcels.make("delivered")
    first = client.get(f"/api/v1/track/{tn}")
    assert first.headers["Last-Modified"] == "Fri, 20 Nov 2026 04:00:00 GMT"  # stored at T0
    since = client.get(f"/api/v1/track/{tn}", headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert since.status_code == 304
    older = client.get(f"/api/v1/track/{tn}", headers={"If-Modified-Since": "Fri, 20 Nov 2026 03:59:59 GMT"})
    assert older.status_code == 200


def test_it_keeps_one_etag_per_language(parcels: Any, client: Any) -> None:
    tn = parcels.make("in_transit")
    zh = client.get(f"/api/v1/track/{tn}?lang=zh-CN").headers["ETag"]
    en = client.get(f"/api/v1/track/{tn}?lang=en")
    assert en.headers["ETag"] != zh
    assert client.get(f"/api/v1/track/{tn}?lang=en", headers={"If-None-Match": zh}).status_code == 200


def test_it_answers_304_for_an_unchanged_page_too(parcels: Any, client: Any) -> None:
    tn = parcels.make("available_for_pickup")
    page = client.get(f"/track/{tn}")
    assert page.status_code == 200 and page.headers["ETag"]
    assert client.get(f"/track/{tn}", headers={"If-None-Match": page.headers["ETag"]}).status_code == 304


def test_each_caching_and_language_header_is_written_once(parcels: Any, client: Any) -> None:
    # A cache or proxy that meets two Cache-Control or two ETag lines may keep either.
    tn = parcels.make("in_transit")
    for path in (f"/api/v1/track/{tn}", f"/track/{tn}"):
        first = client.get(path, headers={"Accept-Language": "en"})
        again = client.get(path, headers={"Accept-Language": "en", "If-None-Match": first.headers["ETag"]})
        assert (first.status_code, again.status_code) == (200, 304), path
        for name in ("Cache-Control", "ETag", "Last-Modified", "Vary", "Content-Language"):
            assert len(first.headers.getlist(name)) == 1, (path, name)
        # A 304 carries what RFC 9110 asks of it (werkzeug drops the entity headers).
        for name in ("Cache-Control", "ETag", "Vary"):
            assert len(again.headers.getlist(name)) == 1, (path, 304, name)
        assert first.headers["Vary"] == "Accept-Language, Cookie"
        assert first.headers["Content-Language"] == "en"
