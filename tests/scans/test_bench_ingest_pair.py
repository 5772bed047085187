"""The paired ingest bench charges each side for its own database's work, and only for it.

``scripts/bench_ingest_pair.py`` compares two versions of ingest by the CPU
each batch cost, PostgreSQL's included: a backend of one side counted for
the other would move the difference it reports.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import POSTGRES_URL
from tests.helpers import load_script
from tracker.core.db import create_database, drop_database

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not Path("/proc/stat").exists(), reason="reads Linux's /proc"),
]


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def test_a_busy_backend_is_charged_to_its_own_database_only(postgres_database: str) -> None:
    bench = load_script("bench_ingest_pair")
    urls = [create_database(POSTGRES_URL, "tracker_pair_test") for _ in range(2)]
    names = [make_url(u).database for u in urls]
    try:
        with psycopg.connect(_dsn(urls[0])) as busy, psycopg.connect(_dsn(urls[1])) as idle:
            idle.execute("SELECT 1")
            before = bench.backend_cpu(names)
            busy.execute("SELECT sum(i) FROM generate_series(1, 20000000) AS i").fetchone()
            after = bench.backend_cpu(names)
    finally:
        for url in urls:
            drop_database(POSTGRES_URL, url)
    spent = {name: after[name] - before[name] for name in names}
    assert spent[names[0]] >= 0.3, spent
    assert spent[names[1]] <= 0.05, spent
