"""Distance/time matrices: great circle, geodesic, and a (fake) OSRM server."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from tracker.routing.errors import MatrixSourceError
from tracker.routing.matrix import GeodesicMatrix, HaversineMatrix, OsrmMatrix
from tracker.routing.model import Location

POINTS = [
    Location(31.2304, 121.4737),  # People's Square
    Location(31.2397, 121.4998),  # the Bund
    Location(31.1443, 121.8083),  # Pudong airport
    Location(31.1979, 121.3363),  # Hongqiao
    Location(39.9042, 116.4074),  # Beijing, far away
]


def test_it_agrees_with_geodesic_within_half_a_percent():
    great_circle = HaversineMatrix(circuity=1.0).build(POINTS).distance_m
    geodesic = GeodesicMatrix(circuity=1.0).build(POINTS).distance_m
    off_diagonal = ~np.eye(len(POINTS), dtype=bool)
    ratio = great_circle[off_diagonal] / geodesic[off_diagonal]
    assert np.all(np.abs(ratio - 1) < 0.005)
    # Shanghai to Beijing is about 1,070 km as the crow flies.
    assert 1_050_000 < geodesic[0, 4] < 1_090_000


def test_it_applies_circuity_to_distance_and_speed_to_time():
    straight = HaversineMatrix(circuity=1.0, speed_kmh=36.0).build(POINTS)
    winding = HaversineMatrix(circuity=1.3, speed_kmh=36.0).build(POINTS)
    np.testing.assert_allclose(winding.distance_m, 1.3 * straight.distance_m)
    # 36 km/h is 10 m/s.
    np.testing.assert_allclose(winding.duration_s, winding.distance_m / 10.0)
    slower = HaversineMatrix(circuity=1.3, speed_kmh=18.0).build(POINTS)
    np.testing.assert_allclose(slower.duration_s, 2 * winding.duration_s)


def test_it_builds_a_symmetric_matrix_with_a_zero_diagonal():
    m = HaversineMatrix().build(POINTS)
    np.testing.assert_allclose(m.distance_m, m.distance_m.T)
    assert np.all(np.diag(m.distance_m) == 0)
    assert m.index(POINTS[2]) == 2 and POINTS[2] in m


def test_it_builds_a_2000_point_matrix_in_well_under_a_second():
    rng = np.random.default_rng(7)
    points = [Location(31.2 + a, 121.4 + b) for a, b in rng.normal(0, 0.1, (2000, 2))]
    source = HaversineMatrix()
    best = float("inf")
    for _ in range(3):  # the best of three, so a busy machine does not fail it
        started = time.perf_counter()
        matrix = source.build(points)
        best = min(best, time.perf_counter() - started)
    assert matrix.distance_m.shape == (2000, 2000)
    assert best < 1.0


def fake_osrm_answer(url: str) -> dict[str, object]:
    """Answer an OSRM table request: distance = 1000 * |i - j| in list order."""
    parsed = urllib.parse.urlsplit(url)  # urlparse would cut at ";"
    coords = parsed.path.rsplit("/", 1)[1].split(";")
    query = urllib.parse.parse_qs(parsed.query)
    sources = [int(i) for i in query["sources"][0].split(";")]
    destinations = [int(i) for i in query["destinations"][0].split(";")]
    ids = [POINTS.index(Location(float(c.split(",")[1]), float(c.split(",")[0]))) for c in coords]
    distances = [[1000.0 * abs(ids[s] - ids[d]) for d in destinations] for s in sources]
    return {
        "code": "Ok",
        "distances": distances,
        "durations": [[v / 10 for v in row] for row in distances],
    }


def test_it_fetches_an_osrm_table_in_tiles_through_its_transport():
    requests: list[str] = []

    def transport(url: str, timeout: float) -> bytes:
        requests.append(url)
        return json.dumps(fake_osrm_answer(url)).encode()

    source = OsrmMatrix("http://osrm.test:5000/", tile=2, transport=transport)
    m = source.build(POINTS)
    expected = 1000.0 * np.abs(np.subtract.outer(np.arange(5), np.arange(5)))
    np.testing.assert_allclose(m.distance_m, expected)
    np.testing.assert_allclose(m.duration_s, expected / 10)
    assert len(requests) == 9  # 3 x 3 tiles of at most 2 x 2
    assert all(u.startswith("http://osrm.test:5000/table/v1/driving/") for u in requests)
    assert all("annotations=duration,distance" in u for u in requests)


def test_it_keeps_unroutable_osrm_pairs_as_infinite():
    def transport(url: str, timeout: float) -> bytes:
        return json.dumps(
            {"code": "Ok", "distances": [[0, None], [5, 0]], "durations": [[0, None], [1, 0]]}
        ).encode()

    m = OsrmMatrix("http://osrm.test", transport=transport).build(POINTS[:2])
    assert np.isinf(m.distance_m[0, 1]) and m.distance_m[1, 0] == 5


@pytest.mark.parametrize(
    "body",
    [
        b"<html>gateway timeout</html>",
        b'{"code": "TooBig", "message": "Too many table coordinates"}',
        b'{"code": "Ok", "distances": [[0]], "durations": [[0]]}',
    ],
)
def test_it_reports_a_bad_osrm_answer_as_a_matrix_source_error(body):
    source = OsrmMatrix("http://osrm.test", transport=lambda url, timeout: body)
    with pytest.raises(MatrixSourceError):
        source.build(POINTS[:2])


class _OsrmHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if "/table/v1/driving/" not in self.path:
            self.send_response(400)
            self.end_headers()
            self.wfile.write(b'{"code": "InvalidUrl", "message": "bad path"}')
            return
        body = json.dumps(fake_osrm_answer(f"http://localhost{self.path}")).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def osrm_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OsrmHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_it_talks_http_to_an_osrm_server_on_localhost(osrm_server):
    m = OsrmMatrix(osrm_server, tile=3, timeout_s=5).build(POINTS)
    assert m.distance_m[0, 4] == 4000.0 and m.duration_s[4, 1] == 300.0


def test_it_reports_an_osrm_http_error_with_its_message(osrm_server):
    source = OsrmMatrix(osrm_server, profile="../nowhere", timeout_s=5)
    with pytest.raises(MatrixSourceError, match="HTTP 400"):
        source.build(POINTS[:2])


def test_it_reports_an_unreachable_osrm_server():
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(MatrixSourceError, match="unreachable"):
        OsrmMatrix(f"http://127.0.0.1:{port}", timeout_s=2).build(POINTS[:2])
